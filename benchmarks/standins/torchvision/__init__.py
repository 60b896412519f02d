"""A stand-in for torchvision in the environment of ``benchmarks/peers.py`` (put this folder on
``PYTHONPATH``): Zennit imports ResNet's block classes when it is imported (for its ResNet
canonizer, unused here) and LXT names torchvision's ViT modules in a map it does not use for BERT;
PyPI's torchvision wheels are CUDA builds, which do not load beside torch's CPU wheel."""
