//! Tensor operations, one module per family. Each is an inherent method of [`Tensor`](crate::Tensor).

pub mod activation;
pub mod binary;
pub mod compare;
pub mod conv;
pub mod dropout;
pub mod elementwise;
pub mod index;
pub mod indices;
pub mod linear;
pub mod loss;
pub mod mask;
pub mod matmul;
pub mod norm;
pub mod pad;
pub mod pool;
pub mod reduce;
pub mod repeat;
pub mod resize;
pub mod shape;
pub mod unary;
pub mod window;
