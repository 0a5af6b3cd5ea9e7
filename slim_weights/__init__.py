"""Released TF-Slim ImageNet checkpoints: manifest, reading, loading by name, download."""
