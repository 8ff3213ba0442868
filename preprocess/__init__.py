"""Preprocessing stage: face detection and alignment, crops, optical flow, clips.

The stage itself is built in its own issue; the package exists so the layout and install are fixed.
"""
