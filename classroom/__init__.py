"""Classroom mode's engine: the class store, its exports, the job lease, join QR codes, fine-tuning.

No Streamlit here; pages call these plain functions. ``import classroom`` stays light (no
TensorFlow): the fine-tune lives in ``classroom.finetune``, imported by whoever trains.
"""

from .db import (
    ClassClosed,
    ClassNotFound,
    ClassStoreError,
    ClassStoreUnavailable,
    RateLimited,
    Store,
    UnknownStudent,
    connect,
    default_url,
)
from .export import drawing_arrays, export_csv, export_npz
from .leases import (
    Lease,
    StoreLease,
    acquire_job_lease,
    describe_owner,
    job_lease,
    owner_id,
    release_all,
    release_job_lease,
    renew_job_lease,
)
from .store import (
    ClassInfo,
    clean_text,
    close_class,
    create_class,
    find_class,
    image_to_uint8,
    join,
    keep_draft,
    list_classes,
    normalize_code,
    rejoin,
    send_drawing,
    send_key,
    sent_drawing_id,
    unsent_draft,
    withdraw,
)
from .summary import (
    ClassSummary,
    DrawingRecord,
    class_drawings,
    class_summary,
    drawing,
    running_class,
    student_drawings,
    student_numbers,
    writer_key,
)
from .teacher import check_teacher_password, check_teacher_token, teacher_token

__all__ = [
    "ClassClosed", "ClassInfo", "ClassNotFound", "ClassStoreError", "ClassStoreUnavailable", "ClassSummary",
    "DrawingRecord", "Lease", "RateLimited", "Store", "StoreLease", "UnknownStudent", "acquire_job_lease",
    "check_teacher_password", "check_teacher_token", "class_drawings", "class_summary", "clean_text", "close_class",
    "connect", "create_class", "default_url", "describe_owner", "drawing", "drawing_arrays", "export_csv",
    "export_npz", "find_class", "image_to_uint8", "job_lease", "join", "keep_draft", "list_classes",
    "normalize_code", "owner_id", "rejoin", "release_all", "release_job_lease", "renew_job_lease", "running_class",
    "send_drawing", "send_key", "sent_drawing_id", "student_drawings", "student_numbers", "teacher_token",
    "unsent_draft", "withdraw", "writer_key",
]
