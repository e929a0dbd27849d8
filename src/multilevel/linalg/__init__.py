"""Linear algebra layer: block types, cross-products and the blocked Cholesky factor."""
from .blocks import BlockDiagonal, BlockSparse, PairProduct, as_dense
from .cholesky import BlockedCholesky, NotPositiveDefinite, logdet_lower, scale_block
from .crossprod import system_blocks

__all__ = ["BlockDiagonal", "BlockSparse", "PairProduct", "as_dense", "BlockedCholesky",
           "NotPositiveDefinite", "logdet_lower", "scale_block", "system_blocks"]
