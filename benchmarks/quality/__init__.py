"""Quality: PSNR/SSIM on the held-out photos (quality table, weights, precisions, tiling)."""
