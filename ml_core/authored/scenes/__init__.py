"""The authored scenes, one module per group; each registers its scenes in ``ml_core.authored.SCENES``."""
