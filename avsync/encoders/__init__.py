"""Encoders: nn.Modules that map feature tensors to embeddings or scores (tensors in, tensors out)."""
