"""Storage URL -> Optuna storage: the one place that opens the study database.

The Optuna study in a relational database is the record of every search. This package
resolves the URL (default: ``$SEARCH_STORAGE``, else a SQLite file ``studies.db`` in the
working directory), opens it with settings fit for long searches, rides out database
restarts, and masks passwords wherever a URL is printed.
"""

from storage._artifacts import ObjectStoreError, PrivateFileSystemArtifactStore, artifact_dir, artifact_location, find_artifacts, is_object_store, log_dir, open_artifact_store
from storage._rdb import (
    HEARTBEAT_GRACE_S,
    HEARTBEAT_INTERVAL_S,
    StorageError,
    check_url,
    complete_trial_ids,
    connect_error,
    count_trials,
    open_storage,
    ranked_value,
    set_trial_user_attrs,
    sqlite_warning,
    upgrade_storage,
    write_trial_batch,
)
from storage._files import make_private_folders, open_private, warn_if_readable
from storage._reads import intermediate_counts, read_intermediate_values, read_trials, study_summary
from storage._owned import LEGACY_ATTRS, OWNER_KEY, count_owned_running, made_here, owned_trial_ids, servable, stale_trial_ids, start_owned_trial
from storage._retry import retrying
from storage._urls import DEFAULT_URL, default_url, is_sqlite, mask_secrets, mask_url, sqlite_path, url_password, url_secrets

__all__ = [
    "DEFAULT_URL",
    "LEGACY_ATTRS",
    "OWNER_KEY",
    "count_owned_running",
    "made_here",
    "servable",
    "owned_trial_ids",
    "start_owned_trial",
    "HEARTBEAT_GRACE_S",
    "HEARTBEAT_INTERVAL_S",
    "StorageError",
    "artifact_dir",
    "ObjectStoreError",
    "artifact_location",
    "find_artifacts",
    "is_object_store",
    "log_dir",
    "PrivateFileSystemArtifactStore",
    "open_private",
    "make_private_folders",
    "warn_if_readable",
    "check_url",
    "complete_trial_ids",
    "connect_error",
    "count_trials",
    "ranked_value",
    "intermediate_counts",
    "default_url",
    "is_sqlite",
    "mask_secrets",
    "mask_url",
    "open_artifact_store",
    "open_storage",
    "read_intermediate_values",
    "read_trials",
    "retrying",
    "set_trial_user_attrs",
    "sqlite_path",
    "sqlite_warning",
    "stale_trial_ids",
    "study_summary",
    "upgrade_storage",
    "url_password",
    "url_secrets",
    "write_trial_batch",
]
