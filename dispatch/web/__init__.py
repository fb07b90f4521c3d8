"""Delivery: HTTP views grouped by resource, the SSE gateway, the error middleware."""
