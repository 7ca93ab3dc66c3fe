"""Loaded by checkov from --external-checks-dir: registers Bucketwatch's own-property bucket
policies as checks CKV_BW_*. See policies/checkov/adapter.py."""

import sys
from pathlib import Path

try:
    import policies.checkov.adapter as _adapter
except ImportError:  # checkov installed apart from Bucketwatch: use the source tree this file is in
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    import policies.checkov.adapter as _adapter

checks = _adapter.register_all()
