"""Training data: RealEstate10K readers (`realestate10k`), the JSONL manifest (`manifest`), clip transforms
(`transforms`), the training dataset (`dataset`) and the metric scale alignment (`scale_alignment`)."""
