"""Which pixels made a digit classifier decide? Train, explain, draw.

    python examples/image_heatmaps.py [out.png]

Trains the small CNN on scikit-learn's 8x8 digits (seconds on a CPU), explains
its predictions for a batch of test images with LRP, and writes a grid of
heatmaps (input left, relevance right: red for evidence for the predicted
digit, blue against it) to out.png (default image-heatmaps.png).
"""

import sys

import torch

import doclrp
from doclrp.datasets import load_digits_images
from doclrp.training import accuracy, train_image_model
from doclrp.models.image import ImageCNN
from doclrp.render.image import heatmap_grid, save_png


def main(path: str = "image-heatmaps.png") -> None:
    torch.manual_seed(0)  # the weights' initialization; training has its own seed
    data = load_digits_images()
    model = train_image_model(ImageCNN(), data.x_train, data.y_train, epochs=15, seed=0)
    print(f"test accuracy: {accuracy(model, data.x_test, data.y_test):.3f}")

    images = data.x_test[:32]
    predicted = model(images).argmax(dim=1)
    # z^B needs the range pixels can take; by name alone it would use the batch's
    # min and max, which merely happen to be 0 and 1 here.
    composite = doclrp.get_composite("epsilon-gamma-box", low=0.0, high=1.0)
    attribution = doclrp.attribute(model, images, target=predicted, composite=composite)

    labels = [f"{int(p)} (true {int(t)})" for p, t in zip(predicted, data.y_test[:32])]
    picture = heatmap_grid(attribution.relevance, images=images, ncols=8, scale=8, labels=labels)
    print(f"wrote {save_png(picture, path)}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
