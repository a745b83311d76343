"""Delivery: what the DLCS exists for, every ingested image served through the IIIF Image API."""
