"""The released AVERE projectors beyond AVERE-7B's pair: the ``naive`` speech projector and the
window-level video Q-Former (``mm_projector_type: qformer``).

The shared reference (``ckpt_A``) only has ``mlp2x_gelu`` + the speech Q-Former, so these are checked
against an independent computation written here from the released code's description (F.unfold
windowing, a BLIP-2 Q-Former spelled out in plain tensor ops on the state dict). That independent
Q-Former is itself first checked against the released run: on ckpt_A's speech Q-Former it must
reproduce the released ``speech_proj_feats`` from the released ``speech_tower_feats``. Weight names:
the video Q-Former's are the released speech Q-Former's (ckpt_A's keys) with ``speech`` -> ``video``,
as the two released classes are the same code under those names.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_avere_reference import reference_root

from emorealm.errors import ConfigError


def _ln(x, sd, p, eps):
    return F.layer_norm(x, x.shape[-1:], sd[p + ".weight"], sd[p + ".bias"], eps)


def _lin(x, sd, p):
    return x @ sd[p + ".weight"].T + sd[p + ".bias"]


def _attention(h, kv, sd, p, heads, eps):
    def split(t):
        return t.reshape(t.shape[0], t.shape[1], heads, -1).transpose(1, 2)

    q, k, v = (split(_lin(src, sd, f"{p}.self.{n}")) for src, n in ((h, "query"), (kv, "key"), (kv, "value")))
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), -1) @ v
    return _ln(_lin(a.transpose(1, 2).reshape(h.shape), sd, f"{p}.output.dense") + h, sd, f"{p}.output.LayerNorm", eps)


def independent_window_qformer(x, sd, kind, kernel, stride, bert, layers=2):
    """The released window-level Q-Former projector, from the state dict ``sd`` (prefix ``<kind>_``)."""
    b, _, c = x.shape
    heads, eps = bert["num_attention_heads"], bert["layer_norm_eps"]
    x = F.layer_norm(x, (c,), sd[f"ln_{kind}.weight"], sd[f"ln_{kind}.bias"], 1e-5)
    u = F.unfold(x.transpose(1, 2).unsqueeze(2), kernel_size=(1, kernel), stride=(1, stride))  # [b, c k, L]
    win = u.reshape(b, c, kernel, -1).permute(0, 3, 2, 1).reshape(-1, kernel, c)
    q = sd[f"{kind}_query_tokens"].expand(win.shape[0], -1, -1)
    p = f"{kind}_Qformer.bert"
    h = _ln(q, sd, f"{p}.embeddings.LayerNorm", eps)
    for i in range(layers):
        lay = f"{p}.encoder.layer.{i}"
        h = _attention(h, h, sd, f"{lay}.attention", heads, eps)
        h = _attention(h, win, sd, f"{lay}.crossattention", heads, eps)
        inter = F.gelu(_lin(h, sd, f"{lay}.intermediate_query.dense"))
        h = _ln(_lin(inter, sd, f"{lay}.output_query.dense") + h, sd, f"{lay}.output_query.LayerNorm", eps)
    out = _lin(h, sd, f"{kind}_proj")
    return out.reshape(b, -1, out.shape[-1])


def _sub(sd, prefix):
    return {k[len(prefix):]: v.float() for k, v in sd.items() if k.startswith(prefix)}


def test_the_independent_qformer_reproduces_the_released_speech_projector():
    root = reference_root()
    sd = _sub(torch.load(root / "ckpt_A" / "pytorch_model.bin", weights_only=True), "model.speech_projector.")
    bert = json.loads((root / "ckpt_A" / "backbones" / "bert-base-uncased" / "config.json").read_text())
    for clip in ("clip1_tone440", "clip3_noise"):
        feats = torch.from_numpy(np.load(root / "ref" / "A" / clip / "speech_tower_feats.npy")).float()
        want = np.load(root / "ref" / "A" / clip / "speech_proj_feats.npy")
        got = independent_window_qformer(feats, sd, "speech", 17, 17, bert)
        assert got.shape == want.shape == (1, 88, 64)
        assert np.abs(got.numpy() - want).max() < 1e-5


@pytest.fixture(scope="module")
def video_qformer_twin(tmp_path_factory):
    from emorealm.model_adapters.avere.tiny import build_tiny_avere

    return build_tiny_avere(tmp_path_factory.mktemp("vq") / "twin", 1, mm_projector_type="qformer")


@pytest.fixture(scope="module")
def naive_twin(tmp_path_factory):
    from emorealm.model_adapters.avere.tiny import build_tiny_avere

    out = build_tiny_avere(tmp_path_factory.mktemp("naive") / "twin", 2, speech_projector_type="naive")
    shutil.rmtree(out / "backbones" / "bert-base-uncased")  # no Q-Former: the BERT config is not needed
    return out


def test_video_qformer_names_shapes_and_forward(video_qformer_twin):
    from emorealm.model_adapters.avere.loading import load_avere

    root = reference_root()
    released = json.loads((root / "ref" / "A" / "state_dict_keys.json").read_text())["keys"]
    # the released VideoQFormer is the SpeechQFormer code with speech -> video (widths: mm_hidden_size)
    want = {k.replace("model.speech_projector.", "model.mm_projector.").replace("speech", "video"): v["shape"]
            for k, v in released.items() if k.startswith("model.speech_projector.")}
    want["model.mm_projector.video_query_tokens"] = [1, 16, 32]  # qformer_num_video_query_tokens
    file_sd = torch.load(video_qformer_twin / "pytorch_model.bin", weights_only=True)
    ours = {k: list(v.shape) for k, v in file_sd.items() if k.startswith("model.mm_projector.")}
    assert ours == want
    model, proc, _ = load_avere(video_qformer_twin)
    proj = model.model.mm_projector
    # 8 frames x 257 tokens, windows of 257 every 257: 8 windows x 16 queries = 128 tokens, 16 per <image>
    assert (proj.windows, proj.tokens, model.tokens_per_frame, proc.tokens_per_frame) == (8, 128, 16, 16)
    torch.manual_seed(0)
    video = torch.randn(2, 3, 8, 224, 224)
    with torch.no_grad():
        tower = model.model.video_tower(video)
        got = model.encode_videos(video)
    assert tower.shape == (2, 8, 257, 32) and got.shape == (2, 128, 64)
    ref = independent_window_qformer(tower.reshape(2, -1, 32), _sub(file_sd, "model.mm_projector."), "video",
                                     257, 257, json.loads((video_qformer_twin / "backbones" / "bert-base-uncased" /
                                                           "config.json").read_text()))
    assert (got - ref).abs().max() < 1e-5
    # the frames matter: each clip's tokens are its own
    assert (got[0] - got[1]).abs().max() > 1e-3


def test_video_qformer_tokens_enter_the_prompt(video_qformer_twin, tmp_path):
    from emorealm.media.synth import write_av_clip
    from emorealm.model_adapters.hf import HFAdapter

    lm = HFAdapter(pretrained=str(video_qformer_twin))
    clip = write_av_clip(tmp_path / "c.mp4", seconds=1.0, size=(64, 48), seed=3)
    doc = {"id": "a", "_task": "t", "media": {"video": str(clip), "audio": None, "audio_source": "video"}}
    inp = lm._inputs(doc, "Which emotion? (A) joy (B) anger")
    ids = inp.features["input_ids"]
    assert int((ids == -200).sum()) == 128 and int((ids == -300).sum()) == 88
    with torch.no_grad():
        emb = lm.model.embed_multimodal(ids, inp.features["videos"], inp.features["audio_mel"])
        vid = lm.model.encode_videos(inp.features["videos"])[0]
    assert torch.equal(emb[0][ids[0] == -200], vid)


def test_naive_speech_projector_names_shapes_and_forward(naive_twin):
    from emorealm.model_adapters.avere.loading import load_avere

    file_sd = torch.load(naive_twin / "pytorch_model.bin", weights_only=True)
    ours = {k: list(v.shape) for k, v in file_sd.items() if k.startswith("model.speech_projector.")}
    # released NaiveSpeechProjector: Linear(10 x speech width, hidden), GELU, Linear(hidden, hidden)
    assert ours == {"model.speech_projector.projection.0.weight": [64, 320], "model.speech_projector.projection.0.bias": [64],
                    "model.speech_projector.projection.2.weight": [64, 64], "model.speech_projector.projection.2.bias": [64]}
    model, proc, accepts = load_avere(naive_twin)
    assert accepts == ("video", "audio") and model.audio_tokens == proc.audio_tokens == 150
    torch.manual_seed(1)
    mel = torch.randn(2, 128, 3000)
    with torch.no_grad():
        whisper = model.model.speech_tower(mel)
        got = model.encode_speech(mel)
    sd = _sub(file_sd, "model.speech_projector.projection.")
    # window of 10 consecutive frames, frame-major: row w = frames 10w..10w+9 concatenated
    cat = torch.stack([torch.cat([whisper[:, 10 * w + j] for j in range(10)], -1) for w in range(150)], 1)
    ref = F.gelu(cat @ sd["0.weight"].T + sd["0.bias"]) @ sd["2.weight"].T + sd["2.bias"]
    assert got.shape == (2, 150, 64) and (got - ref).abs().max() < 1e-5


@pytest.mark.parametrize("changes, match", [
    ({"video_qformer_window_level": False}, "only the window-level video Q-Former"),
    ({"qformer_num_video_query_tokens": 3, "video_qformer_tokens_per_window": 300, "video_qformer_token_stride": 300},
     "6 windows x 3 queries = 18 tokens per clip, which the released merge cannot split"),
    ({"video_qformer_tokens_per_window": 5000}, "video_qformer_tokens_per_window=5000"),
])
def test_bad_video_qformer_configs_are_refused(video_qformer_twin, tmp_path, changes, match):
    """Refused before any weight is read, naming the key to change."""
    from emorealm.model_adapters.avere.loading import load_avere

    bad = tmp_path / "bad"
    shutil.copytree(video_qformer_twin, bad)
    cfg = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, **changes}))
    with pytest.raises(ConfigError, match=match):
        load_avere(bad)


def test_weights_of_another_geometry_are_a_model_error(video_qformer_twin, tmp_path):
    from emorealm.errors import ModelError
    from emorealm.model_adapters.avere.loading import load_avere

    bad = tmp_path / "bad"
    shutil.copytree(video_qformer_twin, bad)
    cfg = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, "qformer_num_video_query_tokens": 8}))
    with pytest.raises(ModelError, match="video_query_tokens"):
        load_avere(bad)
