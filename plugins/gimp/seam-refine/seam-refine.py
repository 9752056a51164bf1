#!/usr/bin/env python3
"""GIMP 3 plug-in "Seam Refine" (Filters ▸ Enhance ▸ Seam Refine…).

GIMP starts this file; the work happens in host.py (GIMP side), refine_job.py (plain Python),
seamrefine_client.py (the shared stdlib client of the Seam Refine daemon) and seamrefine_policy.py (what
both plug-ins do alike), all in this folder.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import host  # noqa: E402

if __name__ == "__main__":
    host.main(sys.argv)
