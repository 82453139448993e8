"""keras_sr.data.patches: the one definition of aligned crops and the 8 flips/rotations."""

import numpy as np
import pytest

from keras_sr.data import patches


def _image(h, w, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def test_augment_codes_are_the_eight_distinct_symmetries():
    x = _image(5, 5)
    outs = [patches.augment(x, a) for a in range(patches.NUM_AUGMENTATIONS)]
    assert np.array_equal(outs[0], x)
    keys = {o.tobytes() for o in outs}
    assert len(keys) == 8
    # Code semantics: flip left-right first when aug >= 4, then aug % 4 counter-clockwise quarter turns.
    assert np.array_equal(outs[1], np.rot90(x))
    assert np.array_equal(outs[4], x[:, ::-1])
    assert np.array_equal(outs[6], np.rot90(x[:, ::-1], 2))
    with pytest.raises(ValueError):
        patches.augment(x, 8)


@pytest.mark.parametrize("aug", range(8))
def test_index_map_matches_augment(aug):
    x = _image(6, 6)
    table = patches.augment_index_map(6, aug)
    gathered = x[table[..., 0], table[..., 1]]
    assert np.array_equal(gathered, patches.augment(x, aug))
    assert patches.augment_index_table(6).shape == (8, 6, 6, 2)


def test_crop_pair_is_aligned_on_the_scale_grid():
    hr = _image(40, 52)
    lr = hr[::4, ::4]  # any LR whose pixel (i, j) sits at HR (4i, 4j)
    lr_patch, hr_patch = patches.crop_pair(lr, hr, 2, 3, 5, 4)
    assert lr_patch.shape == (5, 5, 3) and hr_patch.shape == (20, 20, 3)
    assert np.array_equal(hr_patch, hr[8:28, 12:32])
    assert np.array_equal(hr_patch[::4, ::4], lr_patch)
    with pytest.raises(ValueError, match="leaves the image"):
        patches.crop_pair(lr, hr, 8, 0, 5, 4)


def test_extract_patch_pair_augments_both_alike():
    hr = _image(24, 24).astype(np.float64)

    def box(x):  # 2x2 block means: LR pixel (i, j) <-> HR block (2i:2i+2, 2j:2j+2)
        return x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2, 3).mean(axis=(1, 3))

    lr = box(hr)
    for aug in range(8):
        lp, hp = patches.extract_patch_pair(lr, hr, 1, 2, aug, 4, 2)
        assert np.array_equal(box(hp), lp)  # the block alignment survives every symmetry
        assert lp.flags["C_CONTIGUOUS"] and hp.flags["C_CONTIGUOUS"]


def test_sampling_ranges_and_reproducibility():
    rng = np.random.default_rng(0)
    seen_tops, seen_augs = set(), set()
    for _ in range(400):
        top, left, aug = patches.sample_choice(rng, (10, 7), 5, augment=True)
        assert 0 <= top <= 5 and 0 <= left <= 2 and 0 <= aug < 8
        seen_tops.add(top)
        seen_augs.add(aug)
    assert seen_tops == set(range(6)) and seen_augs == set(range(8))
    assert patches.sample_choice(np.random.default_rng(3), (9, 9), 4, augment=False)[2] == 0
    a = [patches.sample_choice(np.random.default_rng(7), (30, 30), 8) for _ in range(2)]
    assert a[0] == a[1]
    with pytest.raises(ValueError, match="smaller than"):
        patches.sample_crop(rng, 4, 10, 5)


def test_patch_grid_counts():
    assert patches.patch_grid(10, 10, 4, 4, 3) == [(y, x) for y in (0, 3, 6) for x in (0, 3, 6)]
    assert len(patches.patch_grid(41, 100, 41, 41, 41)) == 2
    assert patches.patch_grid(40, 100, 41, 41, 41) == []
