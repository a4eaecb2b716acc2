"""The AVERE model family (Video-LLaVA + LanguageBind + Whisper with a window-level speech Q-Former).

See docs/avere.md. ``load_avere`` reads a released-layout folder; the HF adapter routes
``model_type: "avere"`` here.
"""
