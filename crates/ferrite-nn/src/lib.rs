//! # ferrite-nn
//!
//! Neural-network building blocks on top of `ferrite-autograd`, named as in `torch.nn`:
//! the [`Module`] trait, layers ([`Conv2d`], [`Linear`], [`ReLU`], [`Sequential`], ...),
//! initialisers ([`init`]), losses, optimizers, checkpoints and data loading ([`data`]).
//!
//! ```
//! use ferrite_autograd::Var;
//! use ferrite_nn::{Linear, Module, ReLU, Sequential, ModuleExt};
//! use ferrite_tensor::{seeded_rng, Tensor};
//! let mut rng = seeded_rng(0);
//! let model = Sequential::new()
//!     .add_module("fc1", Linear::new(4, 8))
//!     .append(ReLU);
//! let y = model.forward(&Var::new(Tensor::<f32>::randn(&[2, 4], &mut rng)))?;
//! assert_eq!(y.shape(), vec![2, 8]);
//! assert_eq!(model.num_parameters(), 4 * 8 + 8);
//! # Ok::<(), ferrite_tensor::TensorError>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod data;
mod error;
mod gradcheck;
mod hooks;
pub mod init;
mod layers;
pub mod loss;
pub mod metrics;
pub mod models;
mod module;
pub mod optim;
mod summary;

pub use checkpoint::{Checkpoint, LoadReport, StateDict, Strict, load_state_dict, state_dict};
pub use error::NnError;
pub use gradcheck::gradcheck_module;
pub use hooks::ForwardHookHandle;
pub use layers::*;
pub use module::{AsDynModule, Module, ModuleExt, visit_modules};
pub use optim::{
    Adam, AdamConfig, CosineAnnealingLR, LrScheduler, Optimizer, OptimizerState, Sgd, SgdConfig,
    StepLR, clip_grad_norm,
};
pub use summary::{Summary, SummaryRow, summary};
