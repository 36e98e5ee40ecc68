"""The hierarchical model: priors, the forms each part is written in, the builder, the fused
likelihood, inference and its remedies, convergence diagnostics, prediction and pooling made visible."""
