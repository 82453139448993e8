"""Memory (and optionally time) of reference-based SR patch matching: `tools.benchmark refsr_matching`.

Prints the analytic sizes of TTSR's / C2-Matching's matching for an input
(LR-upsampled, i.e. HR-sized) image and a reference image: the unfolded,
normalized 3x3 patches (`N * 9 * C` floats each side, features at 1/4
resolution), one block of scores (`chunk_size x min(Nr, ref_chunk_size)`)
and the full `(HW) x (HrWr)` matrix that chunking avoids. With the JAX
backend it also compiles the relevance step (unfold + normalize + chunked
argmax + soft attention) for the given sizes without running it and reports
XLA's temporary-buffer peak (`memory_analysis().temp_size_in_bytes`),
chunked and unchunked; `--run` executes and times it.

Example:
    KERAS_BACKEND=jax python -m tools.benchmark refsr_matching --input-size 500 --ref-size 500
    python -m tools.benchmark refsr_matching --chunk-size 512 --ref-chunk-size 4096
"""

import time

__all__ = ["add_arguments", "run", "analytic_sizes"]


def add_arguments(parser):
    parser.add_argument("--input-size", type=int, default=500, help="LR-upsampled input side in pixels (500)")
    parser.add_argument("--ref-size", type=int, default=500, help="reference side in pixels (500)")
    parser.add_argument("--channels", type=int, default=256, help="feature channels at 1/4 resolution (256)")
    parser.add_argument("--chunk-size", type=int, default=1024, help="query patches per step (1024)")
    parser.add_argument("--ref-chunk-size", type=int, default=None, help="reference patches per step (all)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--run", action="store_true", help="also execute the matching and time it")
    return parser


def analytic_sizes(input_size, ref_size, channels=256, chunk_size=1024, ref_chunk_size=None, batch=1):
    """Bytes of the matching's big float32 tensors, as a dict."""
    from keras_sr.layers.patch_matching import matching_score_bytes

    nq = (input_size // 4) ** 2
    nk = (ref_size // 4) ** 2
    patch = 9 * channels * 4
    return {
        "query patches": batch * nq * patch,
        "reference patches": batch * nk * patch,
        "score block (chunked)": matching_score_bytes(nq, nk, chunk_size, ref_chunk_size, batch),
        "full correlation (unchunked)": matching_score_bytes(nq, nk, None, None, batch),
    }


def _xla_temp_bytes(args, chunk_size, ref_chunk_size):
    import jax
    import jax.numpy as jnp

    from keras_sr.layers.texture_transformer import TextureTransformer

    layer = TextureTransformer(chunk_size=chunk_size, ref_chunk_size=ref_chunk_size)
    q = jax.ShapeDtypeStruct((args.batch, args.input_size // 4, args.input_size // 4, args.channels), jnp.float32)
    k = jax.ShapeDtypeStruct((args.batch, args.ref_size // 4, args.ref_size // 4, args.channels), jnp.float32)
    compiled = jax.jit(layer.relevance).lower(q, k).compile()
    analysis = compiled.memory_analysis()
    return analysis.temp_size_in_bytes, compiled


def run(args):
    import keras

    sizes = analytic_sizes(args.input_size, args.ref_size, args.channels, args.chunk_size, args.ref_chunk_size,
                           args.batch)
    print(f"Patch matching, input {args.input_size}x{args.input_size}, reference {args.ref_size}x{args.ref_size}, "
          f"{args.channels} channels at 1/4 resolution, chunk {args.chunk_size} x {args.ref_chunk_size or 'all'}")
    print("| tensor | MB |")
    print("|---|---|")
    for name, value in sizes.items():
        print(f"| {name} | {value / 1e6:.1f} |")
    if keras.backend.backend() != "jax":
        print("(set KERAS_BACKEND=jax for XLA's measured peak of temporary buffers)")
        return
    import numpy as np

    rows = []
    for label, chunk, ref_chunk in (("chunked", args.chunk_size, args.ref_chunk_size), ("unchunked", None, None)):
        start = time.perf_counter()
        temp, compiled = _xla_temp_bytes(args, chunk, ref_chunk)
        compile_s = time.perf_counter() - start
        run_s = None
        if args.run:
            rng = np.random.default_rng(0)
            q = rng.normal(size=(args.batch, args.input_size // 4, args.input_size // 4, args.channels))
            k = rng.normal(size=(args.batch, args.ref_size // 4, args.ref_size // 4, args.channels))
            q, k = q.astype("float32"), k.astype("float32")
            compiled(q, k)[1].block_until_ready()
            start = time.perf_counter()
            compiled(q, k)[1].block_until_ready()
            run_s = time.perf_counter() - start
        rows.append((label, temp, compile_s, run_s))
    print()
    print("| relevance step (JAX/XLA) | temp buffers MB | compile s | run s |")
    print("|---|---|---|---|")
    for label, temp, compile_s, run_s in rows:
        print(f"| {label} | {temp / 1e6:.1f} | {compile_s:.1f} | {'-' if run_s is None else f'{run_s:.2f}'} |")
