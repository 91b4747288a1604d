"""Transformer and LLM workloads as layer tables: BERT-base, ViT-B/16 and GPT-2 small (prefill, decode).

Every matrix product with weights is a fully connected layer over the tokens: ``N = batch``,
``H = tokens per sequence``, ``W = R = S = 1``, ``C`` inputs and ``K`` outputs per token. Attention's
two activation-by-activation products are grouped 1 x 1 convolutions with **one group per head and
sequence** (``groups = batch x heads``), because every sequence has its own keys and values:

=============== ======================== ================ ==================== ======================
layer           rows (``H``, per group)  reduction (C/g)  outputs (K/g)        MACs
=============== ======================== ================ ==================== ======================
``*.scores``    query tokens             head dim ``dh``  context positions    ``b h tq ctx dh``
``*.context``   query tokens             context positions head dim ``dh``     ``b h tq ctx dh``
=============== ======================== ================ ==================== ======================

so a systolic array runs, group after group, exactly the ``tq x dh x ctx`` and ``tq x ctx x dh``
GEMMs of :func:`torch.nn.functional.scaled_dot_product_attention`. Conventions, the same in every
network here:

* attention's score and value products are the **full dense products** the kernels compute: a causal
  mask (GPT-2) is applied to the scores, not exploited to skip them;
* the LM head and the classifiers are included (GPT-2's LM head shares the token embedding's weights,
  but its 768 x 50,257 products are MACs all the same); embedding look-ups (token, position, segment:
  no MACs) are excluded, and so are the MAC-free operations (layer norms, softmax, GELU, residual
  additions, the attention scaling), which :attr:`~quidam_fast.workloads.Network.notes` lists;
* a ViT's patch embedding is a 16 x 16 / 16 convolution (it has MACs) and is included.

Parameters without writing a file: ``name@key=value,key=value`` in :func:`quidam_fast.load_network`
(and so in ``--network``, a spec's ``network`` and ``quidam-fast networks``), e.g.
``gpt2_small_decode@kv=4096`` or ``bert_base@seq=256,batch=4``; each builder's keyword arguments are
its parameters.

References: Devlin et al., NAACL 2019 (BERT-base: 12 layers, d = 768, 12 heads, 3,072 hidden);
Dosovitskiy et al., ICLR 2021 (ViT-B/16: the same encoder on 14 x 14 patches plus a class token);
Radford et al. 2019 and the Hugging Face ``gpt2`` checkpoint (12 layers, d = 768, 12 heads, vocabulary
50,257, 1,024 positions).
"""

from __future__ import annotations

from .errors import QuidamInputError
from .workloads import Layer, Network

#: BERT-base, ViT-B/16 and GPT-2 small share these encoder/decoder sizes.
LAYERS, D_MODEL, HEADS, D_FF = 12, 768, 12, 3072
GPT2_VOCABULARY = 50257
#: Labels of BERT's sequence classifier (a GLUE pair task such as MRPC) and ViT's ImageNet classes.
BERT_LABELS, VIT_CLASSES = 2, 1000

_MAC_FREE = "MAC-free operations, not in the layer table: "


def _positive(network: str, **values: int) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise QuidamInputError(f"{network}: {key} = {value!r} is not allowed; it must be a positive integer")


def _linear(name: str, batch: int, tokens: int, d_in: int, d_out: int) -> Layer:
    """Weights shared by every token: one GEMM of ``batch x tokens`` rows."""
    return Layer(name, H=tokens, W=1, C=d_in, K=d_out, N=batch)


def _attention_products(prefix: str, batch: int, queries: int, context: int) -> tuple[Layer, Layer]:
    """The score (``Q K^T``) and value (``softmax(.) V``) products, one group per sequence and head."""
    groups = batch * HEADS
    head_dim = D_MODEL // HEADS
    return (
        Layer(f"{prefix}.scores", H=queries, W=1, C=groups * head_dim, K=groups * context, groups=groups),
        Layer(f"{prefix}.context", H=queries, W=1, C=groups * context, K=groups * head_dim, groups=groups),
    )


def bert_base(seq: int = 128, batch: int = 1) -> Network:
    """BERT-base encoder on ``seq`` tokens with a sequence classification head.

    Per layer: ``query``, ``key``, ``value`` and ``attention.output`` (768 x 768), the attention
    products, ``intermediate`` (768 x 3,072) and ``output`` (3,072 x 768). Head: the pooler (768 x 768
    on the ``[CLS]`` token) and a 2-label classifier, as fine-tuned on GLUE.

    Examples
    --------
    >>> net = bert_base()
    >>> len(net.layers), round(net.macs / 1e9, 2)
    (98, 11.17)
    """
    _positive("bert_base", seq=seq, batch=batch)
    layers = []
    for i in range(LAYERS):
        prefix = f"layer{i}"
        layers += [_linear(f"{prefix}.attention.{part}", batch, seq, D_MODEL, D_MODEL) for part in ("query", "key", "value")]
        layers += _attention_products(f"{prefix}.attention", batch, seq, seq)
        layers += [
            _linear(f"{prefix}.attention.output", batch, seq, D_MODEL, D_MODEL),
            _linear(f"{prefix}.intermediate", batch, seq, D_MODEL, D_FF),
            _linear(f"{prefix}.output", batch, seq, D_FF, D_MODEL),
        ]
    layers += [_linear("pooler", batch, 1, D_MODEL, D_MODEL), _linear("classifier", batch, 1, D_MODEL, BERT_LABELS)]
    return Network(
        _name("bert_base", seq=seq, batch=batch), tuple(layers),
        notes=_MAC_FREE + "token/position/segment embeddings, layer norms x 25, softmax x 12, GELU x 12, "
        "residual additions x 24, attention scaling x 12; attention products dense",
    )  # fmt: skip


def vit_b16(image: int = 224, batch: int = 1) -> Network:
    """ViT-B/16 on ``image x image`` RGB images: 16 x 16 patches plus a class token.

    At 224 x 224: 14 x 14 = 196 patch tokens and the class token, 197 tokens. Per layer (timm names):
    ``qkv`` (768 x 2,304), the attention products, ``proj`` (768 x 768), ``fc1`` (768 x 3,072),
    ``fc2`` (3,072 x 768). Head: a 1,000-class linear layer on the class token.

    Examples
    --------
    >>> net = vit_b16()
    >>> net.layers[0].P * net.layers[0].Q + 1, net.layers[1].H
    (197, 197)
    """
    _positive("vit_b16", image=image, batch=batch)
    if image % 16:
        raise QuidamInputError(f"vit_b16: image = {image} is not allowed; it must be a multiple of the 16-pixel patch")
    tokens = (image // 16) ** 2 + 1
    layers = [Layer("patch_embed", H=image, W=image, C=3, K=D_MODEL, R=16, S=16, stride=16, N=batch)]
    for i in range(LAYERS):
        prefix = f"blocks{i}"
        layers.append(_linear(f"{prefix}.attn.qkv", batch, tokens, D_MODEL, 3 * D_MODEL))
        layers += _attention_products(f"{prefix}.attn", batch, tokens, tokens)
        layers += [
            _linear(f"{prefix}.attn.proj", batch, tokens, D_MODEL, D_MODEL),
            _linear(f"{prefix}.mlp.fc1", batch, tokens, D_MODEL, D_FF),
            _linear(f"{prefix}.mlp.fc2", batch, tokens, D_FF, D_MODEL),
        ]
    layers.append(_linear("head", batch, 1, D_MODEL, VIT_CLASSES))
    return Network(
        _name("vit_b16", image=image, batch=batch), tuple(layers),
        notes=_MAC_FREE + "class token and position embedding, layer norms x 25, softmax x 12, GELU x 12, "
        "residual additions x 24, attention scaling x 12; attention products dense",
    )  # fmt: skip


def _gpt2_blocks(batch: int, tokens: int, context: int) -> list[Layer]:
    layers = []
    for i in range(LAYERS):
        prefix = f"h{i}"
        layers.append(_linear(f"{prefix}.attn.c_attn", batch, tokens, D_MODEL, 3 * D_MODEL))
        layers += _attention_products(f"{prefix}.attn", batch, tokens, context)
        layers += [
            _linear(f"{prefix}.attn.c_proj", batch, tokens, D_MODEL, D_MODEL),
            _linear(f"{prefix}.mlp.c_fc", batch, tokens, D_MODEL, D_FF),
            _linear(f"{prefix}.mlp.c_proj", batch, tokens, D_FF, D_MODEL),
        ]
    return layers


_GPT2_NOTES = (_MAC_FREE + "token and position embeddings, layer norms x 25, softmax x 12, GELU x 12, "
               "residual additions x 24, attention scaling x 12")


def gpt2_small_prefill(seq: int = 1024, batch: int = 1) -> Network:
    """GPT-2 small reading a prompt of ``seq`` tokens: every token through every layer, and the LM head
    (768 x 50,257) on the last token only (the logits of the first generated token).

    The causal attention is counted dense: ``seq x seq`` scores per head (see the module docstring).
    ``seq`` above GPT-2's 1,024 learned positions is a what-if: the layer shapes are those of a
    longer context.

    Examples
    --------
    >>> net = gpt2_small_prefill()
    >>> net.layers[-1].name, net.layers[-1].H, net.layers[-1].K
    ('lm_head', 1, 50257)
    """
    _positive("gpt2_small_prefill", seq=seq, batch=batch)
    layers = _gpt2_blocks(batch, seq, seq) + [_linear("lm_head", batch, 1, D_MODEL, GPT2_VOCABULARY)]
    return Network(_name("gpt2_small_prefill", seq=seq, batch=batch), tuple(layers),
                   notes=_GPT2_NOTES + "; causal attention counted dense (seq x seq scores per head)")


def gpt2_small_decode(kv: int = 1024, batch: int = 1) -> Network:
    """GPT-2 small generating one token against a KV cache: every layer on the one new token, its query
    against ``kv`` key/value positions, and the LM head (768 x 50,257) for its logits.

    ``kv`` counts every position the new token attends to: the ``kv - 1`` cached ones and its own key
    and value, appended to the cache in this step (so ``kv = 1024`` is the last step of GPT-2's
    1,024-position context, and its attention row is the last row of ``gpt2_small_prefill``). Every
    product with weights is a matrix-vector product (one token per sequence): ``H = 1``.

    Examples
    --------
    >>> net = gpt2_small_decode(kv=4096)
    >>> scores = net.layers[1]
    >>> scores.name, scores.H, scores.K // scores.groups
    ('h0.attn.scores', 1, 4096)
    """
    _positive("gpt2_small_decode", kv=kv, batch=batch)
    layers = _gpt2_blocks(batch, 1, kv) + [_linear("lm_head", batch, 1, D_MODEL, GPT2_VOCABULARY)]
    return Network(_name("gpt2_small_decode", kv=kv, batch=batch), tuple(layers),
                   notes=_GPT2_NOTES + f"; one new token, attending to {kv} positions (KV cache)")


#: The library's transformer networks (registered in :mod:`quidam_fast.workloads`).
BUILDERS = {
    "bert_base": bert_base,
    "vit_b16": vit_b16,
    "gpt2_small_prefill": gpt2_small_prefill,
    "gpt2_small_decode": gpt2_small_decode,
}

_DEFAULTS = {
    "bert_base": {"seq": 128, "batch": 1},
    "vit_b16": {"image": 224, "batch": 1},
    "gpt2_small_prefill": {"seq": 1024, "batch": 1},
    "gpt2_small_decode": {"kv": 1024, "batch": 1},
}


def _name(base: str, **parameters: int) -> str:
    """``base`` for the default parameters, ``base@key=value,...`` (changed ones only) otherwise."""
    changed = [f"{key}={value}" for key, value in parameters.items() if _DEFAULTS[base][key] != value]
    return f"{base}@{','.join(changed)}" if changed else base
