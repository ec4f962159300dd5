#!/usr/bin/python3
"""The real-model suite: well-known architectures from transformers and torchvision, built
from their library configurations with random seeded weights, exported to ONNX by PyTorch's
dynamo exporter (torch.onnx.export(..., dynamo=True)) and, where it works, the TorchScript
one, with inputs and PyTorch's eager outputs (fp32, TF32 off) saved beside each.

Run where PyTorch 2.5+, transformers, torchvision, onnx and onnxscript are installed (the GPU
machine has them; nothing is downloaded):

    python3 scripts/real_models.py --size tiny [--out DIR] [--only gpt2,bert] [--exporters dynamo,torchscript]
    python3 scripts/real_models.py --size full --out /tmp/full      # the GPU bench's models
    python3 scripts/real_models.py --size full --exporters torchscript --only resnet,mobilenet_v2,convnext,vit
        # where only an older PyTorch is installed (Debian's 1.13: TorchScript exporter, no
        # transformers): the torchvision models at full size, for a CPU check

Each export becomes DIR/<model>_<exporter>/ with model.onnx (full size: weights in
model.onnx.data), input_<i>.npy, output_<i>.npy and meta.json (input and output names and
files, exporter, opset, the ops used, onnxruntime's max error against PyTorch as a check of the
export itself, parameter count). A model whose export fails is recorded in DIR/suite.json with
the exporter's error, never skipped silently. The tiny fixtures live in
test/fixtures/models/ (npm test runs every one on the CPU, npm run test:gpu on CUDA).
"""

import argparse
import json
import os
import sys
import time
import traceback

import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


class Outputs(nn.Module):
    """Wraps a transformers model so the export returns a plain tuple of named tensors."""

    def __init__(self, model, keys):
        super().__init__()
        self.model = model
        self.keys = keys

    def forward(self, *args):
        out = self.model(*args, return_dict=True)
        return tuple(out[k] for k in self.keys)


def ids(batch, seq, vocab, seed):
    g = torch.Generator().manual_seed(seed)
    # Ids from 3 up: 0..2 are pad/bos/eos in several configs.
    return torch.randint(3, vocab, (batch, seq), generator=g)


def padded_mask(batch, seq):
    """Right padding: row b keeps seq - 3*b tokens (batch > 1 exercises the padded path)."""
    m = torch.ones(batch, seq, dtype=torch.int64)
    for b in range(1, batch):
        m[b, max(seq - 3 * b, 1):] = 0
    return m


def image(batch, size, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, size, size, generator=g)


# ---- the models: (name, builder(size) -> (module, inputs tuple, input names, output names)) ----

def gpt2(size):
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config() if size == "full" else GPT2Config(vocab_size=1000, n_positions=64, n_embd=64, n_layer=2, n_head=4)
    seq = 128 if size == "full" else 16
    m = GPT2LMHeadModel(cfg)
    m.config.use_cache = False
    x = ids(1 if size == "full" else 2, seq, cfg.vocab_size, 1)
    return Outputs(m, ["logits"]), (x,), ["input_ids"], ["logits"]


def encoder_with_mask(model_cls, cfg, size, token_types):
    m = model_cls(cfg)
    batch, seq = (2, 128) if size == "full" else (2, 16)
    x = ids(batch, seq, cfg.vocab_size, 2)
    mask = padded_mask(batch, seq)
    args, names = (x, mask), ["input_ids", "attention_mask"]
    if token_types:
        tt = torch.zeros(batch, seq, dtype=torch.int64)
        tt[:, seq // 2:] = 1
        args, names = args + (tt,), names + ["token_type_ids"]
    return Outputs(m, ["last_hidden_state"]), args, names, ["last_hidden_state"]


def bert(size):
    from transformers import BertConfig, BertModel
    cfg = BertConfig() if size == "full" else BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, max_position_embeddings=64)
    return encoder_with_mask(BertModel, cfg, size, True)


def distilbert(size):
    from transformers import DistilBertConfig, DistilBertModel
    cfg = DistilBertConfig() if size == "full" else DistilBertConfig(vocab_size=1000, dim=64, n_layers=2, n_heads=4, hidden_dim=128, max_position_embeddings=64)
    return encoder_with_mask(DistilBertModel, cfg, size, False)


def roberta(size):
    from transformers import RobertaConfig, RobertaModel
    cfg = RobertaConfig() if size == "full" else RobertaConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, max_position_embeddings=66)
    return encoder_with_mask(RobertaModel, cfg, size, False)


def decoder(model_cls, cfg, size):
    m = model_cls(cfg)
    m.config.use_cache = False
    batch, seq = (1, 64) if size == "full" else (2, 16)
    x = ids(batch, seq, cfg.vocab_size, 3)
    mask = padded_mask(batch, seq)
    return Outputs(m, ["logits"]), (x, mask), ["input_ids", "attention_mask"], ["logits"]


def llama_cfg(cls, size, **extra):
    if size == "full":  # ~44M parameters, as the GPU machine's torch.compile figure
        return cls(vocab_size=32000, hidden_size=512, intermediate_size=1376, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=512, **extra)
    return cls(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, **extra)


def llama(size):
    from transformers import LlamaConfig, LlamaForCausalLM
    return decoder(LlamaForCausalLM, llama_cfg(LlamaConfig, size), size)


def qwen2(size):
    from transformers import Qwen2Config, Qwen2ForCausalLM
    return decoder(Qwen2ForCausalLM, llama_cfg(Qwen2Config, size), size)


def mistral(size):
    from transformers import MistralConfig, MistralForCausalLM
    # A window shorter than the sequence, so the sliding window changes the answer.
    return decoder(MistralForCausalLM, llama_cfg(MistralConfig, size, sliding_window=8 if size == "tiny" else 32), size)


def t5_encoder(size):
    from transformers import T5Config, T5EncoderModel
    cfg = T5Config() if size == "full" else T5Config(vocab_size=1000, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4)
    return encoder_with_mask(T5EncoderModel, cfg, size, False)


def vit(size):
    from transformers import ViTConfig, ViTModel
    cfg = ViTConfig() if size == "full" else ViTConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
    m = ViTModel(cfg, add_pooling_layer=False)
    x = image(1 if size == "full" else 2, cfg.image_size, 4)
    return Outputs(m, ["last_hidden_state"]), (x,), ["pixel_values"], ["last_hidden_state"]


def clip_text(size):
    from transformers import CLIPTextConfig, CLIPTextModel
    cfg = CLIPTextConfig() if size == "full" else CLIPTextConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=32, eos_token_id=2)
    m = CLIPTextModel(cfg)
    batch, seq = (2, 77) if size == "full" else (2, 16)
    x = ids(batch, seq, cfg.vocab_size, 5)
    x[0, -1] = cfg.eos_token_id
    x[1, seq // 2] = cfg.eos_token_id
    return Outputs(m, ["last_hidden_state", "pooler_output"]), (x,), ["input_ids"], ["last_hidden_state", "pooler_output"]


def whisper_encoder(size):
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder
    cfg = WhisperConfig(d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048) if size == "full" else WhisperConfig(d_model=64, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=128, num_mel_bins=16, max_source_positions=32)
    m = WhisperEncoder(cfg)
    g = torch.Generator().manual_seed(6)
    x = torch.randn(1, cfg.num_mel_bins, 2 * cfg.max_source_positions, generator=g)
    return Outputs(m, ["last_hidden_state"]), (x,), ["input_features"], ["last_hidden_state"]


class Logits(nn.Module):
    """transformers vision classifiers: the logits alone."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, return_dict=True).logits


def resnet(size):
    if size == "full":
        from torchvision.models import resnet18
        return resnet18(), (image(1, 224, 7),), ["x"], ["logits"]
    from transformers import ResNetConfig, ResNetForImageClassification
    cfg = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic", num_labels=10)
    return Logits(ResNetForImageClassification(cfg)), (image(2, 64, 7),), ["x"], ["logits"]


def mobilenet_v2(size):
    from torchvision.models import mobilenet_v2 as mv2
    if size == "full":
        return mv2(), (image(1, 224, 8),), ["x"], ["logits"]
    return mv2(width_mult=0.25, num_classes=10), (image(1, 64, 8),), ["x"], ["logits"]


def convnext(size):
    if size == "full":
        from torchvision.models import convnext_tiny
        return convnext_tiny(), (image(1, 224, 9),), ["x"], ["logits"]
    from transformers import ConvNextConfig, ConvNextForImageClassification
    cfg = ConvNextConfig(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], num_labels=10)
    return Logits(ConvNextForImageClassification(cfg)), (image(1, 64, 9),), ["x"], ["logits"]


def efficientnet_b0(size):
    from torchvision.models import efficientnet_b0 as eb0
    if size == "full":
        return eb0(), (image(1, 224, 10),), ["x"], ["logits"]
    from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf
    setting, last = _efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=0.34)
    return EfficientNet(setting, dropout=0.2, last_channel=last, num_classes=10), (image(1, 64, 10),), ["x"], ["logits"]


MODELS = {
    "gpt2": gpt2, "bert": bert, "distilbert": distilbert, "roberta": roberta,
    "llama": llama, "qwen2": qwen2, "mistral": mistral, "t5_encoder": t5_encoder,
    "vit": vit, "clip_text": clip_text, "whisper_encoder": whisper_encoder,
    "resnet": resnet, "mobilenet_v2": mobilenet_v2, "convnext": convnext, "efficientnet_b0": efficientnet_b0,
}


def export(model, args, in_names, out_names, exporter, path, external):
    if exporter == "dynamo":
        prog = torch.onnx.export(model, args, dynamo=True, input_names=in_names, output_names=out_names, external_data=external)
        prog.save(path, external_data=external)
    else:
        # PyTorch before 2.5 has no dynamo argument (its export is the TorchScript one).
        extra = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
        torch.onnx.export(model, args, path, input_names=in_names, output_names=out_names, opset_version=17, **extra)


def ort_error(path, in_names, args, outs):
    """onnxruntime's max |ort - torch| / max |torch|: whether the export itself is right."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)}
    got = sess.run(None, feeds)
    return max(float(np.abs(g - o).max() / max(np.abs(o).max(), 1e-30)) for g, o in zip(got, outs))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["tiny", "full"], default="tiny")
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", default=None, help="comma-separated model names")
    ap.add_argument("--exporters", default="dynamo,torchscript")
    a = ap.parse_args()
    out_dir = a.out or os.path.join(ROOT, "test", "fixtures", "models")
    os.makedirs(out_dir, exist_ok=True)
    names = a.only.split(",") if a.only else list(MODELS)
    import onnx

    def version(mod):
        try:
            return __import__(mod).__version__
        except ImportError:
            return None  # the models needing it record the ImportError
    suite = {"torch": torch.__version__, "transformers": version("transformers"), "torchvision": version("torchvision"), "onnx": onnx.__version__, "size": a.size, "models": {}}
    for name in names:
        torch.manual_seed(0)
        try:
            model, args, in_names, out_names = MODELS[name](a.size)
        except Exception as e:
            suite["models"][name] = {"error": f"build: {type(e).__name__}: {e}"}
            print(f"{name}: build failed: {e}", flush=True)
            continue
        model.eval()
        with torch.no_grad():
            outs = model(*args)
        outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
        outs = [o.detach().float().numpy() for o in outs]
        params = sum(p.numel() for p in model.parameters())
        for exporter in a.exporters.split(","):
            key = f"{name}_{exporter}"
            d = os.path.join(out_dir, key)
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "model.onnx")
            t0 = time.time()
            try:
                with torch.no_grad():
                    export(model, args, in_names, out_names, exporter, path, a.size == "full")
                m = onnx.load(path, load_external_data=False)
            except Exception as e:
                msg = f"{type(e).__name__}: {str(e)[:400]}"
                suite["models"][key] = {"error": f"export: {msg}"}
                print(f"{key}: export failed: {msg}", flush=True)
                traceback.print_exc(limit=3)
                for f in os.listdir(d):
                    os.remove(os.path.join(d, f))
                os.rmdir(d)
                continue
            opset = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
            graph_in = [i.name for i in m.graph.input]
            graph_out = [o.name for o in m.graph.output]
            inputs = []
            for i, (n, t) in enumerate(zip(graph_in, args)):
                np.save(os.path.join(d, f"input_{i}.npy"), t.numpy())
                inputs.append({"name": n, "file": f"input_{i}.npy"})
            outputs = []
            for i, (n, o) in enumerate(zip(graph_out, outs)):
                np.save(os.path.join(d, f"output_{i}.npy"), o)
                outputs.append({"name": n, "file": f"output_{i}.npy"})
            try:
                ort_err = ort_error(path, graph_in, args, outs)
            except Exception as e:
                ort_err = f"onnxruntime failed: {type(e).__name__}: {str(e)[:200]}"
            meta = {
                "model": name, "exporter": exporter, "size": a.size, "opset": opset, "parameters": params,
                "inputs": inputs, "outputs": outputs, "ops": sorted({n.op_type for n in m.graph.node}),
                "nodes": len(m.graph.node), "ort_max_rel_error": ort_err, "export_s": round(time.time() - t0, 2),
            }
            with open(os.path.join(d, "meta.json"), "w") as f:
                json.dump(meta, f, indent=1)
            suite["models"][key] = {"opset": opset, "bytes": os.path.getsize(path), "ort_max_rel_error": ort_err, "ops": meta["ops"]}
            print(f"{key}: opset {opset}, {os.path.getsize(path)} bytes, {len(m.graph.node)} nodes, ort err {ort_err}, ops {meta['ops']}", flush=True)
    with open(os.path.join(out_dir, "suite.json"), "w") as f:
        json.dump(suite, f, indent=1)


if __name__ == "__main__":
    main()
