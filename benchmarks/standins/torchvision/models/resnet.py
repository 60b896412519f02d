from torch import nn


class Bottleneck(nn.Module):
    pass


class BasicBlock(nn.Module):
    pass
