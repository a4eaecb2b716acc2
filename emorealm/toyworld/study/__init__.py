"""The controlled study (docs/avem-dpo-study.md): plain DPO against AVEm-DPO and its ablations,
trained from toy-omni in a fresh toy world and measured through ``emorealm run`` / ``diagnose``.

:mod:`.config` (arms that differ only in the loss), :mod:`.world` (the data and the
cue-contradicts-audio probe), :mod:`.cells` (one resumable (arm, seed)), :mod:`.measure` (the
harness calls), :mod:`.aggregate` (t-intervals over seeds, the default-form rule), :mod:`.plots`,
:mod:`.driver` (the whole study).
"""

from emorealm.toyworld.study.config import StudyConfig, load_study_config, study_from_dict
from emorealm.toyworld.study.driver import run_study

__all__ = ["StudyConfig", "load_study_config", "run_study", "study_from_dict"]
