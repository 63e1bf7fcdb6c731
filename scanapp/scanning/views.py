"""Scan pages (being written)."""

from flask import Blueprint

bp = Blueprint("scanning", __name__)
