"""Analytic FLOPs of one training step of a (possibly adapted) T5.

Only matrix products are counted (2 FLOPs per multiply-add); layer norms,
softmax, activations, dropout, the loss, the embedding lookup and the
optimizer update are elementwise and left out (they are memory-bound and a
few percent of the products at these sizes). The one exception is the
Fastfood transform of Intrinsic-SAID, whose Walsh-Hadamard butterflies are
counted at their minimal `LL * log2(LL)` additions per transform.

Notation: batch `B`, source length `S` (`S + P` with `P` prompt vectors),
target length `T`, hidden `d`, feed-forward `f` (`2f` inputs for gated
activations), `h` heads of size `k` (`i = h k`), `L` blocks per stack,
vocabulary `V`.

Forward, per stack (weights `W`: products with a weight; scores: products of
two activations):

    encoder  W:      B S L (4 * 2 d i                q, k, v, o
                            + 2 d f (x2 gated) + 2 f d)  feed-forward
             scores: L * 2 * (2 B h S^2 k)
    decoder  W:      B T L (4 * 2 d i            self-attention q, k, v, o
                            + 2 * 2 d i          cross q, o)
                     + B S L * 2 * 2 d i         cross k, v on encoder states
                     + feed-forward as the encoder
             scores: L * 2 * (2 B h T^2 k + 2 B h T S k)
    head:            2 B T d V

Backward of a product `Y = X W`: `dX = dY W^T` costs the forward FLOPs and
is needed whenever something trainable lies below; `dW = X^T dY` costs the
forward FLOPs and is needed only when `W` trains. Every method here trains
something in the lowest block (adapters train every layer norm, BitFit every
bias, LoRA every attention block, prompt tuning the input itself,
Intrinsic-SAID and full everything), so every `dX` is needed:

    step = forward + backward_x + backward_w
    backward_x = forward_W + 2 * forward_scores
    backward_w = forward FLOPs of the products whose weight trains
               (all of forward_W for `full` and Intrinsic-SAID,
                the adapters' / LoRA's own products otherwise)

Method extras (forward, per token of the stack they sit in; each trains, so
its backward is 2x):

    dense adapter      2 * 2 d m
    low-rank adapter   2 * 2 r (d + m)
    PHM projection k->u: min(factored, materialised):
        full rank B:   factored 2 n^2 k + 2 k u,
                       materialised 2 k u (+ 2 n k u once per step)
        rank r (LPHM): factored 2 r n (k + n^2 + u),
                       materialised 2 k u (+ 2 k u r / n + 2 n k u once)
    LoRA rank r on q and v of every attention: 2 r (d + i) per projection
    Intrinsic-SAID: 2 transforms of LL log2 LL per base tensor, forward and
        again backward (LL: the tensor's size padded to a power of two).
"""


def _t5_forward(dims, batch, source, target):
    """(forward_weight_flops, forward_score_flops, head_flops) of T5."""
    L, d, f = dims["num_layers"], dims["hidden_dim"], dims["intermediate_dim"]
    h, k, V = dims["num_heads"], dims["key_value_dim"], dims["vocabulary_size"]
    i = h * k
    ff_in = 2 if dims["use_gated_activation"] else 1
    ff = 2 * d * f * ff_in + 2 * f * d  # per token
    B, S, T = batch, source, target
    enc_w = B * S * L * (4 * 2 * d * i + ff)
    enc_s = L * 2 * (2 * B * h * S * S * k)
    dec_w = B * T * L * (4 * 2 * d * i + 2 * 2 * d * i + ff) + B * S * L * 2 * 2 * d * i
    dec_s = L * 2 * (2 * B * h * T * T * k + 2 * B * h * T * S * k)
    head = 2 * B * T * d * V
    return enc_w + dec_w, enc_s + dec_s, head


def phm_flops(tokens, k, units, n, rank):
    """Forward FLOPs of a `PHMDense` call, factored and materialised."""
    if rank is None:
        factored = tokens * (2 * n * n * k + 2 * k * units)
        materialised = tokens * 2 * k * units + 2 * n * k * units
    else:
        factored = tokens * 2 * rank * n * (k + n * n + units)
        materialised = (
            tokens * 2 * k * units + 2 * k * units * rank // n + 2 * n * k * units
        )
    return factored, materialised


def _adapter_forward(config, d, tokens_enc, tokens_dec, num_layers):
    """Forward FLOPs of all adapters of an adapter-family method."""
    m = config.get("bottleneck_dim") or d // config["reduction_factor"]
    blocks = num_layers - config.get("dropped_layers", 0)
    sites = len(config["placement"])
    projection = config["projection"]
    total = 0
    for tokens in (tokens_enc, tokens_dec):
        for k, u in ((d, m), (m, d)):
            if projection == "dense":
                one = tokens * 2 * k * u
            elif projection == "low_rank":
                one = tokens * 2 * config["low_rank"] * (k + u)
            else:
                one = min(
                    phm_flops(tokens, k, u, config["phm_dim"], config["phm_rank"])
                )
            total += blocks * sites * one
    return total


def _lora_forward(config, dims, tokens_enc, tokens_dec):
    d, i, L = (
        dims["hidden_dim"],
        dims["num_heads"] * dims["key_value_dim"],
        dims["num_layers"],
    )
    r = config["rank"]
    per = 2 * r * (d + i)
    count = len(config["targets"])
    # Encoder self-attention; decoder self-attention; decoder cross-attention
    # (its query/output on decoder tokens, key/value on encoder states).
    total = L * count * per * (tokens_enc + tokens_dec)
    for target in config["targets"]:
        total += L * per * (tokens_enc if target in ("key", "value") else tokens_dec)
    return total


def step_flops(dims, method, config, batch, source, target, base_shapes=()):
    """FLOPs of one training step, with the parts it is made of.

    Args:
        dims: the `T5Backbone` config (`num_layers`, `hidden_dim`, ...).
        method: method name.
        config: the method configuration as a dict (dataclass fields).
        batch, source, target: the batch shape.
        base_shapes: shapes of the base weights (Intrinsic-SAID).
    """
    prompt = config.get("length", 0) if method == "prompt-tuning" else 0
    fw, fs, head = _t5_forward(dims, batch, source + prompt, target)
    fw += head
    forward = fw + fs
    backward_x = fw + 2 * fs
    extra = 0
    if method in ("full", "intrinsic-said"):
        backward_w = fw
    else:
        backward_w = 0
    if "projection" in config:
        extra = _adapter_forward(
            config,
            dims["hidden_dim"],
            batch * source,
            batch * target,
            dims["num_layers"],
        )
    elif method == "lora":
        extra = _lora_forward(config, dims, batch * source, batch * target)
    fastfood = 0
    if method == "intrinsic-said":
        for shape in base_shapes:
            size = 1
            for s in shape:
                size *= int(s)
            ll = 1 << (size - 1).bit_length()
            fastfood += 2 * ll * (ll.bit_length() - 1)
        fastfood *= 2  # forward and backward
    total = forward + backward_x + backward_w + 3 * extra + fastfood
    return {
        "step": int(total),
        "forward": int(forward + extra + fastfood // 2),
        "forward_products": int(forward),
        "backward_x": int(backward_x),
        "backward_w": int(backward_w),
        "method_extra": int(3 * extra + fastfood),
    }
