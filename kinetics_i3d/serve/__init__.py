"""Whole-video evaluation, long-video (chunked) inference, feature extraction, SavedModel export."""
