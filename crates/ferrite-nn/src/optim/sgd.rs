//! Stochastic gradient descent with momentum, dampening, weight decay and Nesterov momentum
//! (`torch.optim.SGD`).

use std::collections::BTreeMap;

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result, TensorError};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    Buffer, Optimizer, OptimizerState, ParamState, check_buffer_names, check_lr,
    check_non_negative, check_params, check_state_header, check_step_counters, collect_grads,
    hyper, hyper_bool, load_buffer,
};

const KIND: &str = "sgd";
const OP: &str = "SGD";
const MOMENTUM_BUFFER: &str = "momentum_buffer";

/// The hyper-parameters of [`Sgd`], with PyTorch's names and defaults.
///
/// ```
/// use ferrite_nn::optim::SgdConfig;
/// let c = SgdConfig::new(0.1).with_momentum(0.9).with_nesterov(true);
/// assert_eq!((c.lr, c.momentum, c.dampening, c.weight_decay, c.nesterov), (0.1, 0.9, 0.0, 0.0, true));
/// assert!(c.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    /// The learning rate (PyTorch's default: `1e-3`).
    pub lr: f64,
    /// The momentum factor (default 0: plain SGD).
    pub momentum: f64,
    /// The dampening of the momentum (default 0). Not applied at the first step.
    pub dampening: f64,
    /// L2 penalty added to the gradient: `g + weight_decay * p` (default 0).
    pub weight_decay: f64,
    /// Nesterov momentum (default false); needs `momentum > 0` and `dampening == 0`.
    pub nesterov: bool,
}

impl Default for SgdConfig {
    /// PyTorch's defaults: `lr = 1e-3`, everything else off.
    ///
    /// ```
    /// use ferrite_nn::optim::SgdConfig;
    /// assert_eq!(SgdConfig::default(), SgdConfig::new(1e-3));
    /// ```
    fn default() -> Self {
        SgdConfig::new(1e-3)
    }
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr`.
    ///
    /// ```
    /// use ferrite_nn::optim::SgdConfig;
    /// assert_eq!(SgdConfig::new(0.5).momentum, 0.0);
    /// ```
    pub fn new(lr: f64) -> Self {
        SgdConfig {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }

    /// Sets the momentum factor.
    ///
    /// ```
    /// use ferrite_nn::optim::SgdConfig;
    /// assert_eq!(SgdConfig::new(0.1).with_momentum(0.9).momentum, 0.9);
    /// ```
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the dampening of the momentum.
    ///
    /// ```
    /// use ferrite_nn::optim::SgdConfig;
    /// assert_eq!(SgdConfig::new(0.1).with_dampening(0.5).dampening, 0.5);
    /// ```
    pub fn with_dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }

    /// Sets the L2 weight decay.
    ///
    /// ```
    /// use ferrite_nn::optim::SgdConfig;
    /// assert_eq!(SgdConfig::new(0.1).with_weight_decay(1e-4).weight_decay, 1e-4);
    /// ```
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Turns Nesterov momentum on or off.
    ///
    /// ```
    /// use ferrite_nn::optim::SgdConfig;
    /// assert!(SgdConfig::new(0.1).with_momentum(0.9).with_nesterov(true).nesterov);
    /// ```
    pub fn with_nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// Checks the hyper-parameters as `torch.optim.SGD` does.
    ///
    /// # Errors
    /// `Invalid learning rate` (negative or not finite), `Invalid momentum value`,
    /// `Invalid weight_decay value` (negative or NaN), `Invalid dampening value` (NaN or
    /// infinite), and Nesterov momentum without a positive momentum or with dampening.
    ///
    /// ```
    /// use ferrite_nn::optim::SgdConfig;
    /// let err = SgdConfig::new(-0.1).validate().unwrap_err();
    /// assert!(err.to_string().contains("Invalid learning rate"));
    /// assert!(SgdConfig::new(0.1).with_nesterov(true).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        check_lr(OP, self.lr)?;
        check_non_negative(OP, "momentum", self.momentum)?;
        check_non_negative(OP, "weight_decay", self.weight_decay)?;
        if !self.dampening.is_finite() {
            return Err(TensorError::invalid(
                OP,
                format!("Invalid dampening value: {}", self.dampening),
            ));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(TensorError::invalid(
                OP,
                format!(
                    "Nesterov momentum requires a momentum and zero dampening (momentum {}, dampening {})",
                    self.momentum, self.dampening
                ),
            ));
        }
        Ok(())
    }

    fn to_hyper_params(self) -> BTreeMap<String, f64> {
        BTreeMap::from([
            ("lr".to_string(), self.lr),
            ("momentum".to_string(), self.momentum),
            ("dampening".to_string(), self.dampening),
            ("weight_decay".to_string(), self.weight_decay),
            ("nesterov".to_string(), f64::from(u8::from(self.nesterov))),
        ])
    }

    fn from_state(state: &OptimizerState) -> Result<Self> {
        let config = SgdConfig {
            lr: hyper(state, "lr")?,
            momentum: hyper(state, "momentum")?,
            dampening: hyper(state, "dampening")?,
            weight_decay: hyper(state, "weight_decay")?,
            nesterov: hyper_bool(state, "nesterov")?,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Stochastic gradient descent, exactly as `torch.optim.SGD` (single-tensor path).
///
/// For each parameter `p` with gradient `g`, at step `t`:
///
/// ```text
/// g = g + weight_decay * p                       (if weight_decay != 0)
/// if momentum != 0:
///     b = g                                      (t = 1: no dampening)
///     b = momentum * b + (1 - dampening) * g     (t > 1)
///     g = g + momentum * b    if nesterov  else  g = b
/// p = p - lr * g
/// ```
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{Optimizer, Sgd, SgdConfig};
/// use ferrite_tensor::Tensor;
///
/// let w = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, -1.0], &[2])?);
/// let mut opt = Sgd::new(vec![w.clone()], SgdConfig::new(0.1).with_momentum(0.5))?;
/// for _ in 0..2 {
///     w.set_grad(Some(Tensor::ones(&[2])))?;
///     opt.step()?;
/// }
/// // buffer: 1, then 0.5 * 1 + 1 = 1.5; p = 1 - 0.1 - 0.15
/// assert!((w.value().to_vec()[0] - 0.75).abs() < 1e-15);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub struct Sgd<T: Float = f32> {
    params: Vec<Var<T>>,
    config: SgdConfig,
    /// Momentum buffer of each parameter (created at its first update when momentum != 0).
    momentum_buffers: Vec<Option<Vec<T>>>,
    /// Number of updates applied to each parameter.
    steps: Vec<u64>,
}

impl<T: Float> std::fmt::Debug for Sgd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sgd")
            .field("params", &self.params.len())
            .field("config", &self.config)
            .finish()
    }
}

impl<T: Float> Sgd<T> {
    /// An SGD optimizer for `params` (usually `model.parameters()`).
    ///
    /// # Errors
    /// When the configuration is invalid ([`SgdConfig::validate`]), the list is empty, a
    /// parameter is not a leaf, or a parameter appears twice.
    ///
    /// ```
    /// use ferrite_nn::optim::{Sgd, SgdConfig};
    /// use ferrite_nn::{Linear, Module, ModuleExt};
    /// use ferrite_tensor::seeded_rng;
    /// let model: Linear = Linear::new(2, 2, &mut seeded_rng(0));
    /// assert!(Sgd::new(model.parameters(), SgdConfig::new(0.1)).is_ok());
    /// assert!(Sgd::<f32>::new(vec![], SgdConfig::new(0.1)).is_err());
    /// assert!(Sgd::new(model.parameters(), SgdConfig::new(0.1).with_momentum(-1.0)).is_err());
    /// ```
    pub fn new(params: Vec<Var<T>>, config: SgdConfig) -> Result<Self> {
        config.validate()?;
        check_params(OP, &params)?;
        let n = params.len();
        Ok(Sgd {
            params,
            config,
            momentum_buffers: vec![None; n],
            steps: vec![0; n],
        })
    }

    /// The hyper-parameters in use.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert_eq!(opt.config().lr, 0.1);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }
}

/// The scalars of one SGD update, and the update itself over a parameter's values.
#[derive(Clone, Copy)]
struct SgdKernel<T> {
    weight_decay: T,
    momentum: T,
    one_minus_dampening: T,
    neg_lr: T,
}

/// Elements per parallel task of the update (large enough that a task outweighs its cost).
const SGD_CHUNK: usize = 1 << 14;

impl<T: Float> SgdKernel<T> {
    /// Updates `ps` (and the momentum buffer `bs`, unused without momentum) from the
    /// gradient `gs`, element by element. The flags are constants so that each combination
    /// compiles to a loop without branches, which the compiler vectorises; the operations
    /// and their order (hence every rounding) are the same in all of them. Chunks run in
    /// parallel: each element's result depends on that element alone, so the bits do not
    /// depend on the number of threads.
    fn run<const WD: bool, const MOMENTUM: bool, const NESTEROV: bool, const FIRST: bool>(
        self,
        ps: &mut [T],
        gs: &[T],
        bs: &mut [T],
    ) {
        debug_assert_eq!(ps.len(), gs.len());
        debug_assert!(!MOMENTUM || bs.len() == ps.len());
        let update = |ps: &mut [T], gs: &[T], bs: &mut [T]| {
            if MOMENTUM {
                for ((p, &g), b) in ps.iter_mut().zip(gs).zip(bs.iter_mut()) {
                    let d = if WD { g + self.weight_decay * *p } else { g };
                    let m = if FIRST {
                        d
                    } else {
                        *b * self.momentum + self.one_minus_dampening * d
                    };
                    *b = m;
                    let d = if NESTEROV { d + self.momentum * m } else { m };
                    *p += self.neg_lr * d;
                }
            } else {
                for (p, &g) in ps.iter_mut().zip(gs) {
                    let d = if WD { g + self.weight_decay * *p } else { g };
                    *p += self.neg_lr * d;
                }
            }
        };
        if ps.len() <= SGD_CHUNK {
            update(ps, gs, bs);
        } else if MOMENTUM {
            ps.par_chunks_mut(SGD_CHUNK)
                .zip(gs.par_chunks(SGD_CHUNK))
                .zip(bs.par_chunks_mut(SGD_CHUNK))
                .for_each(|((p, g), b)| update(p, g, b));
        } else {
            ps.par_chunks_mut(SGD_CHUNK)
                .zip(gs.par_chunks(SGD_CHUNK))
                .for_each(|(p, g)| update(p, g, &mut []));
        }
    }
}

impl<T: Float> Optimizer<T> for Sgd<T> {
    fn step(&mut self) -> Result<()> {
        let grads = collect_grads(OP, &self.params)?;
        check_step_counters(OP, &grads, |i| self.steps[i])?;
        let c = self.config;
        let weight_decay = T::of(c.weight_decay);
        let momentum = T::of(c.momentum);
        let one_minus_dampening = T::of(1.0 - c.dampening);
        let neg_lr = T::of(-c.lr);
        for (i, grad) in grads.into_iter().enumerate() {
            let Some(grad) = grad else { continue };
            let grad = grad.contiguous();
            let gs = grad.as_slice().expect("contiguous gradient");
            // One pass per element, in place, with the operations (and roundings) of
            // PyTorch's single-tensor SGD in its order:
            //   d = grad (+ weight_decay * p)
            //   buf = d at the first step, else momentum * buf + (1 - dampening) * d
            //   d = d + momentum * buf (nesterov) or buf
            //   p = p + (-lr) * d
            let first = c.momentum != 0.0 && self.momentum_buffers[i].is_none();
            let mut buf = if c.momentum != 0.0 {
                self.momentum_buffers[i]
                    .take()
                    .unwrap_or_else(|| vec![T::zero(); gs.len()])
            } else {
                Vec::new()
            };
            let kernel = SgdKernel {
                weight_decay,
                momentum,
                one_minus_dampening,
                neg_lr,
            };
            self.params[i].update_value(|ps| {
                match (c.weight_decay != 0.0, c.momentum != 0.0, c.nesterov, first) {
                    (false, false, _, _) => {
                        kernel.run::<false, false, false, false>(ps, gs, &mut buf)
                    }
                    (true, false, _, _) => {
                        kernel.run::<true, false, false, false>(ps, gs, &mut buf)
                    }
                    (false, true, false, false) => {
                        kernel.run::<false, true, false, false>(ps, gs, &mut buf)
                    }
                    (false, true, false, true) => {
                        kernel.run::<false, true, false, true>(ps, gs, &mut buf)
                    }
                    (false, true, true, false) => {
                        kernel.run::<false, true, true, false>(ps, gs, &mut buf)
                    }
                    (false, true, true, true) => {
                        kernel.run::<false, true, true, true>(ps, gs, &mut buf)
                    }
                    (true, true, false, false) => {
                        kernel.run::<true, true, false, false>(ps, gs, &mut buf)
                    }
                    (true, true, false, true) => {
                        kernel.run::<true, true, false, true>(ps, gs, &mut buf)
                    }
                    (true, true, true, false) => {
                        kernel.run::<true, true, true, false>(ps, gs, &mut buf)
                    }
                    (true, true, true, true) => {
                        kernel.run::<true, true, true, true>(ps, gs, &mut buf)
                    }
                }
            })?;
            if c.momentum != 0.0 {
                self.momentum_buffers[i] = Some(buf);
            }
            self.steps[i] += 1;
        }
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<()> {
        check_lr(OP, lr)?;
        self.config.lr = lr;
        Ok(())
    }

    fn params(&self) -> &[Var<T>] {
        &self.params
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    fn state(&self) -> OptimizerState {
        let params = self
            .params
            .iter()
            .enumerate()
            .map(|(i, param)| {
                let mut buffers = BTreeMap::new();
                if let Some(buf) = &self.momentum_buffers[i] {
                    buffers.insert(
                        MOMENTUM_BUFFER.to_string(),
                        Buffer {
                            shape: param.shape(),
                            data: buf.iter().map(|&x| x.as_f64()).collect(),
                        },
                    );
                }
                ParamState {
                    step: self.steps[i],
                    buffers,
                }
            })
            .collect();
        OptimizerState {
            kind: KIND.to_string(),
            hyper_params: self.config.to_hyper_params(),
            params,
        }
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        check_state_header(KIND, &self.params, &state)?;
        let config = SgdConfig::from_state(&state)?;
        let mut buffers = Vec::with_capacity(self.params.len());
        for (i, (param, ps)) in self.params.iter().zip(&state.params).enumerate() {
            // The buffer is optional: PyTorch keeps `None` when momentum is 0, and a missing
            // buffer is recreated from the gradient at the next step.
            check_buffer_names(i, ps, &[MOMENTUM_BUFFER], &[])?;
            if ps.step == 0 && !ps.buffers.is_empty() {
                return Err(TensorError::invalid(
                    "load_state",
                    format!("parameter {i}: step 0 but it has a momentum buffer"),
                ));
            }
            let buf = load_buffer(i, param, ps, MOMENTUM_BUFFER)?;
            buffers.push(buf.map(|t| t.to_vec()));
        }
        self.config = config;
        self.momentum_buffers = buffers;
        self.steps = state.params.iter().map(|ps| ps.step).collect();
        Ok(())
    }
}
