"""Keras layers of keras-sr (installed as `keras_sr.layers`), `keras.ops` only.

Every layer is registered for serialization under the package name "keras_sr". Importing this
package applies `keras_sr.torch_backend_fixes` on the PyTorch backend.
"""

from keras_sr.layers.annealed_temperature import AnnealedTemperature
from keras_sr.layers.bicubic_resize import BicubicResize
from keras_sr.layers.bilinear_kernel import BilinearKernel
from keras_sr.layers.bilinear_resize import BilinearResize, bilinear_resize
from keras_sr.layers.bilinear_upsampling import BilinearUpsampling
from keras_sr.layers.blur import Blur, make_kernel, upfirdn2d
from keras_sr.layers.channel_attention import ChannelAttention
from keras_sr.layers.channel_attention_block import ChannelAttentionBlock
from keras_sr.layers.class_routing import ClassRouting
from keras_sr.layers.da_conv import DAConv, dynamic_depthwise_conv
from keras_sr.layers.degradation_aware_group import DegradationAwareBlock, DegradationAwareGroup
from keras_sr.layers.degradation_encoder import DegradationEncoder
from keras_sr.layers.constant_input import ConstantInput
from keras_sr.layers.coordinate_sampling import gather_pixels, make_cell, make_coord, nearest_index, unfold_3x3
from keras_sr.layers.correspondence import (ContrastiveFeatureExtractor, DynamicAggregation, PatchCorrespondence,
                                           correlation_distillation_loss)
from keras_sr.layers.deformable_conv import DeformableConv2D, deform_conv2d
from keras_sr.layers.fold_references import FoldReferences
from keras_sr.layers.depth_to_space import DepthToSpace
from keras_sr.layers.dual_residual_aggregation import DualResidualAggregation
from keras_sr.layers.equalized_conv import EqualizedConv2D
from keras_sr.layers.equalized_dense import EqualizedDense, fused_leaky_relu
from keras_sr.layers.film_residual_block import FiLMResidualBlock
from keras_sr.layers.hybrid_attention_block import HybridAttentionBlock
from keras_sr.layers.flow_similarity_correspondence import FlowSimilarityCorrespondence
from keras_sr.layers.flow_warp import FlowWarp, flow_warp
from keras_sr.layers.gaussian_latent import GaussianLatent, kl_divergence, split_posterior
from keras_sr.layers.learned_weighted_sum import LearnedWeightedSum
from keras_sr.layers.local_implicit_function import LocalImplicitFunction
from keras_sr.layers.masa_matching import MatchAndExtraction
from keras_sr.layers.mean_shift import MeanShift
from keras_sr.layers.overlapping_cross_attention import OverlappingCrossAttentionBlock
from keras_sr.layers.meta_upscale import MetaUpscale
from keras_sr.layers.non_local_block import NonLocalBlock
from keras_sr.layers.patch_matching import fold_patches, match_patches, unfold_patches
from keras_sr.layers.patch_swap import PatchSwap
from keras_sr.layers.reference_attention import ReferenceAttention
from keras_sr.layers.repeat_per_reference import RepeatPerReference
from keras_sr.layers.minibatch_stddev import MinibatchStddev
from keras_sr.layers.modulated_conv import ModulatedConv2D
from keras_sr.layers.modulated_style_conv import ModulatedStyleConv
from keras_sr.layers.modulated_to_rgb import ModulatedToRGB
from keras_sr.layers.noise_injection import NoiseInjection
from keras_sr.layers.noise_level_embedding import NoiseLevelEmbedding
from keras_sr.layers.pixel_norm import PixelNorm
from keras_sr.layers.plane_attention import PlaneAttention
from keras_sr.layers.plane_blend import PlaneBlend
from keras_sr.layers.plane_sweep_volume import PlaneSweepVolume, shift_columns
from keras_sr.layers.planes_to_channels import PlanesToChannels
from keras_sr.layers.reflection_padding import ReflectionPadding2D
from keras_sr.layers.residual_block import ResidualBlock
from keras_sr.layers.residual_channel_attention import ResidualChannelAttentionBlock, ResidualGroup
from keras_sr.layers.residual_dense_block import ResidualDenseBlock, ResidualInResidualDenseBlock
from keras_sr.layers.residual_hybrid_attention_group import ResidualHybridAttentionGroup
from keras_sr.layers.residual_swin_transformer_block import ResidualSwinTransformerBlock
from keras_sr.layers.separable_residual_block import SeparableResidualBlock
from keras_sr.layers.similarity_aware_alignment import SimilarityAwareAlignment
from keras_sr.layers.similarity_gate import SimilarityGate
from keras_sr.layers.space_to_depth import SpaceToDepth
from keras_sr.layers.spectral_normalization import SpectralNormalization
from keras_sr.layers.spatial_adaptation import SpatialAdaptation
from keras_sr.layers.sparse_mask_conv import SparseMaskConv
from keras_sr.layers.sparse_mask_module import SparseMaskModule
from keras_sr.layers.spatial_self_attention import SpatialSelfAttention
from keras_sr.layers.subpixel_upsampling import SubPixelUpsampling, depth_to_space
from keras_sr.layers.swin_transformer_block import SwinTransformerBlock
from keras_sr.layers.texture_transformer import (CrossScaleFeatureIntegration, LearnableTextureExtractor,
                                                 SoftAttentionFusion, TextureTransformer)
from keras_sr.layers.vgg_features import VGGFeatures
from keras_sr.layers.weight_normalization import WeightNormalization
from keras_sr.layers.window_attention import WindowAttention
from keras_sr.layers.window_padding import CropToScaledSize, PadToMultiple
from keras_sr.layers.wide_activation import WideActivationBlockA, WideActivationBlockB

from keras_sr.torch_backend_fixes import apply_torch_fixes

apply_torch_fixes()
