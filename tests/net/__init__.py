"""Tests of the networked deployment (secagg.net)."""
