"""engine.model: models by name. Resolve ``--model`` (`specs`), fetch and verify files (`files`),
convert GGUF once (`convert`), load (`loading`, `lazy`), the architecture table (`families`) and
map (`sites`), site reads and replacements (`site_hooks`), and the seeded `tiny` model."""
