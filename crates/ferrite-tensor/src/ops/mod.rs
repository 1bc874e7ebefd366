//! Tensor operations, one module per family. Each is an inherent method of [`Tensor`](crate::Tensor).

pub mod binary;
pub mod conv;
pub mod dropout;
pub mod linear;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod pad;
pub mod pool;
pub mod reduce;
pub mod shape;
pub mod unary;
pub mod window;
