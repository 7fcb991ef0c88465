"""Supervisors: nurseries with a restart policy that keep the actor tree alive."""
