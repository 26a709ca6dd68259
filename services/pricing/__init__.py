"""The pricing service: strategies, guardrails, demand models, reprice runs, approvals, history, experiments."""
