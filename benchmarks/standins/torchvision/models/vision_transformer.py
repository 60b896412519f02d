from torch import nn  # noqa: F401  (LXT's ViT map names torchvision's nn classes; its BERT map is what runs)
