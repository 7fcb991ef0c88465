"""Actors: one trio task per objective, session and target, each owning its state behind an inbox."""
