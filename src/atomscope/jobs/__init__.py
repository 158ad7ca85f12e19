"""The jobs the command line runs, scriptable from Python: plain arguments in, a directory of
outputs and a summary.json (`atomscope.summary`) out.

`run_hrtem` (with `HRTEMSettings`, `preset_settings`), `run_stem` and `run_cbed` (with
`ProbeSettings`), `run_strain`, `run_recognize`, `run_count`, `run_build`, `run_relax`, `run_phonons`;
training is `atomscope.learning.train.train`. The physics is imported when a job runs.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "hrtem": ["HRTEMSettings", "preset_settings", "run_hrtem"],
        "stem": ["ProbeSettings", "run_cbed", "run_stem"],
        "strain": ["run_strain"],
        "recognize": ["run_recognize"],
        "count": ["run_count"],
        "structures": ["run_build", "run_phonons", "run_relax"],
    },
)
