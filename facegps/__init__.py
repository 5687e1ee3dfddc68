"""Face-GPS: per-muscle facial movement from ordinary videos, with head motion removed

Modules:

- `facegps.measure.flow`: The 3×3-patch normal equations of DISC solved for every sample point at once, checked against OpenCV on known sub-pixel shifts of a real face, and the fast production flow (pyramidal LK or DIS) used by the pipeline.
- `facegps.measure.register`: Each frame registered to the reference from the image (a robust similarity plus an out-of-plane term, fitted to the flow), and where the landmarks say the skin went: the two estimates `analyze_video` combines."""

__version__ = "0.3.1"

# Written by hand (nbdev writes the docstring above and the version; every other module is exported from its
# notebook). The names a user starts from, each documented in its chapter:
#   analyze_video(path, out_dir, **params), AnalysisParams — the measurement (nbs/measure/15_analyze);
#   read_analysis(folder) — an analysis folder's per-frame table, checked (nbs/measure/16_export);
#   measured_activations(frames) — the muscle channels where they were measured (nbs/measure/15_analyze);
#   run_report(video, out_dir) — the papermill report of a video (nbs/runs/02_runner);
#   explore(source) — the ipywidgets explorer in JupyterLab (nbs/view/02_explore);
#   export_analysis(folder, format) — an analysis as a CSV other tools read (nbs/measure/16_export).
# name -> (module, attribute), imported when first used: the modules behind these names pull in MediaPipe, OpenCV
# and pandas (measured: `import facegps` 0.03 s, importing those modules 1.7-2.1 s), and the `facegps` command
# imports this package before it knows which command runs.
_PUBLIC = {
    "analyze_video": ("measure.analyze", "analyze_video"),
    "AnalysisParams": ("measure.analyze", "AnalysisParams"),
    "Analysis": ("measure.analyze", "Analysis"),
    "measured_activations": ("measure.analyze", "measured_activations"),
    "read_analysis": ("measure.export", "read_analysis_frames"),
    "run_report": ("runs.runner", "run_report"),
    "explore": ("view.explore", "explore"),
    "export_analysis": ("measure.export", "export_analysis"),
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name):
    if name not in _PUBLIC: raise AttributeError(f"module 'facegps' has no attribute {name!r}")
    import importlib
    module, attr = _PUBLIC[name]
    value = getattr(importlib.import_module(f"facegps.{module}"), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
