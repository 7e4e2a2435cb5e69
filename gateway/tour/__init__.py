"""``gateway tour``: the credential core at work, end to end, on one machine in seconds."""

from gateway.tour.record import Beat, TourResult
from gateway.tour.story import (
    DEFAULT_READER,
    DEFAULT_START,
    TourError,
    default_hr_file,
    run_tour,
)

__all__ = [
    "DEFAULT_READER",
    "DEFAULT_START",
    "Beat",
    "TourError",
    "TourResult",
    "default_hr_file",
    "run_tour",
]
