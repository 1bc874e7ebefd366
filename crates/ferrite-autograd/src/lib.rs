//! # ferrite-autograd
//!
//! Define-by-run reverse-mode automatic differentiation over `ferrite-tensor` tensors.
//! Every op on a [`Var`] computes its value at once and, when a gradient will be needed,
//! records how to send the gradient back to its inputs. [`Var::backward`] then walks that
//! graph from the result to the parameters, iteratively and in reverse creation order.
//!
//! ```
//! use ferrite_autograd::{gradcheck, GradcheckOptions, Var};
//! use ferrite_tensor::Tensor;
//!
//! // y = sum(relu(x * w)): gradients by hand, by backward, and by finite differences.
//! let x = Var::new(Tensor::<f64>::from_vec(vec![1.0, -2.0, 3.0], &[3])?);
//! let w = Var::parameter(Tensor::<f64>::full(&[3], 0.5));
//! let y = x.mul(&w)?.relu()?.sum_all()?;
//! y.backward()?;
//! assert_eq!(w.grad().unwrap().to_vec(), vec![1.0, 0.0, 3.0]);
//!
//! let report = gradcheck(
//!     |v: &[Var<f64>]| v[0].mul(&v[1])?.tanh()?.sum_all(),
//!     &[x.value(), w.value()],
//!     &GradcheckOptions::default(),
//! )?;
//! assert!(report.checked > 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod backward;
mod dot;
mod grad;
mod gradcheck;
mod gradgradcheck;
mod grads;
mod hooks;
mod mode;
mod ops;
mod var;

pub use dot::{to_dot, to_dot_with_names};
pub use grad::{GradOptions, grad};
pub use gradcheck::{GradcheckError, GradcheckOptions, GradcheckReport, gradcheck};
pub use gradgradcheck::gradgradcheck;
pub use grads::{Grads, VarGrads};
pub use hooks::HookHandle;
pub use mode::{
    NoGradGuard, detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled, no_grad,
};
pub use var::{BackwardFn, DoubleBackwardFn, Var, live_nodes};
