//! Differentiable ops, one module per family. Each op is a method of [`Var`](crate::Var)
//! whose forward calls a `ferrite-tensor` kernel and whose backward sits right beside it,
//! attached with [`Var::from_op`](crate::Var::from_op).

mod activation;
mod arith;
mod broadcast;
mod conv;
mod conv_grad;
mod double;
mod dropout;
mod index;
mod loss;
mod matmul;
mod norm;
mod pad;
mod pointwise;
mod pool;
mod reduce;
mod repeat;
mod resize;
mod shape;
mod softmax;
mod unary;
