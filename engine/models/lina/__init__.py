"""Lina-Speech text-to-speech (Lemerle et al., 2024): a codec language model over WavTokenizer tokens whose
layers are Gated Linear Attention recurrences with blind cross-attention to the text.

Entry points: :func:`load_model` (→ :class:`LinaModel`: ``logits``, ``loss``, ``initial_state``,
``text_context``, ``run``, ``step``, ``set_weight_format``), :class:`TextTokenizer`, :func:`generate`, and
initial-state tuning (:class:`IstTrainer`, :func:`train_voice`, :func:`save_voice`, :func:`load_voice`).
"""

from engine.models.lina.blocks import LinaState, TextContext
from engine.models.lina.config import RELEASED, LinaConfig
from engine.models.lina.synthesis import Generation, SamplingSettings, generate, sample_top_k
from engine.models.lina.gla import GLAState
from engine.models.lina.ist import IstExample, IstTrainer, collate, load_voice, new_voice, save_voice, train_voice
from engine.models.lina.loader import load_model
from engine.models.lina.model import START_TOKEN, STOP_TOKEN, LinaModel, LinaOutput
from engine.models.lina.packed import WEIGHT_FORMATS
from engine.models.lina.tokenizer import TextTokenizer

__all__ = ["GLAState", "Generation", "IstExample", "IstTrainer", "LinaConfig", "LinaModel", "LinaOutput",
           "LinaState", "RELEASED", "START_TOKEN", "STOP_TOKEN", "SamplingSettings", "TextContext", "TextTokenizer",
           "WEIGHT_FORMATS", "collate", "generate", "load_model", "load_voice", "new_voice", "sample_top_k",
           "save_voice", "train_voice"]
