"""DynamiCrafter 3D UNet with the CamI2V camera plug-in (`UNetModel`, `UNetConfig`)."""

from realcam.models.unet.unet import (
    UNET_256,
    UNET_512,
    CameraInjectionConfig,
    UNetConfig,
    UNetModel,
    split_context,
)

__all__ = ["UNET_256", "UNET_512", "CameraInjectionConfig", "UNetConfig", "UNetModel", "split_context"]
