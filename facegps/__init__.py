"""Face-GPS: per-muscle facial movement from ordinary videos, with head motion removed

Modules:

- `facegps.flow`: The 3×3-patch normal equations of DISC solved for every sample point at once, checked against OpenCV on known sub-pixel shifts of a real face, and the fast production flow (pyramidal LK or DIS) used by the pipeline.
- `facegps.register`: Each frame registered to the reference from the image (a robust similarity plus an out-of-plane term, fitted to the flow), and where the landmarks say the skin went: the two estimates `analyze_video` combines."""

__version__ = "0.3.0"
