//! Tensor operations, one module per family. Each is an inherent method of [`Tensor`](crate::Tensor).

pub mod binary;
pub mod conv;
pub mod linear;
pub mod matmul;
pub mod pool;
pub mod reduce;
pub mod shape;
pub mod unary;
pub mod activation;
pub mod compare;
pub mod elementwise;
pub mod mask;
