"""A small convolutional backbone for CPU real time: strides 4, 8, 16, 32.

Plain conv stem to 1/4, then one stride-2 conv per stage followed by cheap
residual blocks (depthwise 3x3 + pointwise expand/project). BatchNorm, because it
folds into the convs at inference and is the fastest norm on CPU.
"""

import torch.nn as nn


def conv_bn_relu(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    def __init__(self, c, expand=2):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.pw1 = nn.Conv2d(c, expand * c, 1)
        self.pw2 = nn.Conv2d(expand * c, c, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.bn1(self.dw(x))
        y = self.bn2(self.pw2(self.act(self.pw1(y))))
        return self.act(x + y)


class TinyBackbone(nn.Module):
    def __init__(self, channels=(32, 48, 96, 160), blocks=(1, 1, 2, 1), stem_channels=16):
        super().__init__()
        self.stem = nn.Sequential(conv_bn_relu(3, stem_channels, 2), conv_bn_relu(stem_channels, channels[0], 2))
        stages, cin = [], channels[0]
        for i, (c, n) in enumerate(zip(channels, blocks)):
            down = nn.Identity() if i == 0 else conv_bn_relu(cin, c, 2)
            stages.append(nn.Sequential(down, *[ResidualBlock(c) for _ in range(n)]))
            cin = c
        self.stages = nn.ModuleList(stages)
        self.out_channels = list(channels)
        self.strides = [4, 8, 16, 32]

    def forward(self, x):
        """x: [B, 3, H, W] normalised image -> [c2 (1/4), c3 (1/8), c4 (1/16), c5 (1/32)]."""
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats
