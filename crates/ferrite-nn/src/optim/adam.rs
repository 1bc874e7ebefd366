//! Adam and AdamW (`torch.optim.Adam`, `torch.optim.AdamW`).

use std::collections::BTreeMap;

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result, Tensor, TensorError};
use serde::{Deserialize, Serialize};

use super::{
    Buffer, Optimizer, OptimizerState, ParamState, check_buffer_names, check_lr,
    check_non_negative, check_params, check_state_header, check_step_counters, collect_grads,
    hyper, hyper_bool, load_buffer,
};

const EXP_AVG: &str = "exp_avg";
const EXP_AVG_SQ: &str = "exp_avg_sq";
const MAX_EXP_AVG_SQ: &str = "max_exp_avg_sq";

/// The hyper-parameters of [`Adam`], with PyTorch's names and defaults.
///
/// ```
/// use ferrite_nn::optim::AdamConfig;
/// let c = AdamConfig::default();
/// assert_eq!((c.lr, c.betas, c.eps, c.weight_decay, c.amsgrad), (1e-3, (0.9, 0.999), 1e-8, 0.0, false));
/// let c = AdamConfig::new(0.01).with_betas(0.8, 0.99).with_amsgrad(true);
/// assert!(c.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// The learning rate (default `1e-3`).
    pub lr: f64,
    /// Decay rates of the first and second moment averages (default `(0.9, 0.999)`).
    pub betas: (f64, f64),
    /// Added to the denominator for numerical stability (default `1e-8`).
    pub eps: f64,
    /// L2 penalty added to the gradient: `g + weight_decay * p` (default 0).
    pub weight_decay: f64,
    /// Use the maximum of the past second moments (AMSGrad; default false).
    pub amsgrad: bool,
}

impl Default for AdamConfig {
    /// PyTorch's defaults: `lr = 1e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8`, no weight
    /// decay, no AMSGrad.
    ///
    /// ```
    /// use ferrite_nn::optim::AdamConfig;
    /// assert_eq!(AdamConfig::default(), AdamConfig::new(1e-3));
    /// ```
    fn default() -> Self {
        AdamConfig::new(1e-3)
    }
}

/// The hyper-parameters of [`AdamW`]: the same as [`AdamConfig`], but the weight decay is
/// decoupled (the parameter shrinks by `lr * weight_decay` before the Adam update) and its
/// default is `0.01`, as in `torch.optim.AdamW`.
///
/// ```
/// use ferrite_nn::optim::AdamWConfig;
/// let c = AdamWConfig::default();
/// assert_eq!((c.lr, c.betas, c.eps, c.weight_decay, c.amsgrad), (1e-3, (0.9, 0.999), 1e-8, 0.01, false));
/// assert_eq!(AdamWConfig::new(0.1).with_weight_decay(0.1).weight_decay, 0.1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// The learning rate (default `1e-3`).
    pub lr: f64,
    /// Decay rates of the first and second moment averages (default `(0.9, 0.999)`).
    pub betas: (f64, f64),
    /// Added to the denominator for numerical stability (default `1e-8`).
    pub eps: f64,
    /// Decoupled weight decay: `p = p * (1 - lr * weight_decay)` (default `0.01`).
    pub weight_decay: f64,
    /// Use the maximum of the past second moments (AMSGrad; default false).
    pub amsgrad: bool,
}

impl Default for AdamWConfig {
    /// PyTorch's defaults: `lr = 1e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8`,
    /// `weight_decay = 0.01`, no AMSGrad.
    ///
    /// ```
    /// use ferrite_nn::optim::AdamWConfig;
    /// assert_eq!(AdamWConfig::default(), AdamWConfig::new(1e-3));
    /// ```
    fn default() -> Self {
        AdamWConfig::new(1e-3)
    }
}

/// Builder methods shared by the two configurations.
macro_rules! adam_builders {
    ($config:ident, $default_wd:expr, $op:literal) => {
        impl $config {
            /// The defaults with learning rate `lr`.
            ///
            /// ```
            #[doc = concat!("use ferrite_nn::optim::", stringify!($config), ";")]
            #[doc = concat!("assert_eq!(", stringify!($config), "::new(0.01).lr, 0.01);")]
            /// ```
            pub fn new(lr: f64) -> Self {
                $config {
                    lr,
                    betas: (0.9, 0.999),
                    eps: 1e-8,
                    weight_decay: $default_wd,
                    amsgrad: false,
                }
            }

            /// Sets the decay rates of the moment averages.
            ///
            /// ```
            #[doc = concat!("use ferrite_nn::optim::", stringify!($config), ";")]
            #[doc = concat!("assert_eq!(", stringify!($config), "::new(0.01).with_betas(0.5, 0.9).betas, (0.5, 0.9));")]
            /// ```
            pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Self {
                self.betas = (beta1, beta2);
                self
            }

            /// Sets the term added to the denominator.
            ///
            /// ```
            #[doc = concat!("use ferrite_nn::optim::", stringify!($config), ";")]
            #[doc = concat!("assert_eq!(", stringify!($config), "::new(0.01).with_eps(1e-6).eps, 1e-6);")]
            /// ```
            pub fn with_eps(mut self, eps: f64) -> Self {
                self.eps = eps;
                self
            }

            /// Sets the weight decay.
            ///
            /// ```
            #[doc = concat!("use ferrite_nn::optim::", stringify!($config), ";")]
            #[doc = concat!("assert_eq!(", stringify!($config), "::new(0.01).with_weight_decay(0.1).weight_decay, 0.1);")]
            /// ```
            pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
                self.weight_decay = weight_decay;
                self
            }

            /// Turns AMSGrad on or off.
            ///
            /// ```
            #[doc = concat!("use ferrite_nn::optim::", stringify!($config), ";")]
            #[doc = concat!("assert!(", stringify!($config), "::new(0.01).with_amsgrad(true).amsgrad);")]
            /// ```
            pub fn with_amsgrad(mut self, amsgrad: bool) -> Self {
                self.amsgrad = amsgrad;
                self
            }

            /// Checks the hyper-parameters as PyTorch does.
            ///
            /// # Errors
            /// `Invalid learning rate` (negative or not finite), `Invalid epsilon value`,
            /// `Invalid beta parameter at index 0/1` (outside `[0, 1)`), `Invalid
            /// weight_decay value` (negative); NaN is refused everywhere.
            ///
            /// ```
            #[doc = concat!("use ferrite_nn::optim::", stringify!($config), ";")]
            #[doc = concat!("let err = ", stringify!($config), "::new(0.01).with_betas(0.9, 1.0).validate().unwrap_err();")]
            /// assert!(err.to_string().contains("Invalid beta parameter at index 1"));
            /// ```
            pub fn validate(&self) -> Result<()> {
                AdamSettings::from(*self).validate()
            }
        }

        impl From<$config> for AdamSettings {
            fn from(c: $config) -> Self {
                AdamSettings {
                    lr: c.lr,
                    betas: c.betas,
                    eps: c.eps,
                    weight_decay: c.weight_decay,
                    amsgrad: c.amsgrad,
                    op: $op,
                }
            }
        }

        impl From<AdamSettings> for $config {
            fn from(s: AdamSettings) -> Self {
                $config {
                    lr: s.lr,
                    betas: s.betas,
                    eps: s.eps,
                    weight_decay: s.weight_decay,
                    amsgrad: s.amsgrad,
                }
            }
        }
    };
}

adam_builders!(AdamConfig, 0.0, "Adam");
adam_builders!(AdamWConfig, 0.01, "AdamW");

/// The hyper-parameters as the shared implementation sees them.
#[derive(Debug, Clone, Copy, PartialEq)]
struct AdamSettings {
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    /// The name used in error messages: `"Adam"` or `"AdamW"`.
    op: &'static str,
}

impl AdamSettings {
    fn validate(&self) -> Result<()> {
        let op = self.op;
        check_lr(op, self.lr)?;
        if self.eps.is_nan() || self.eps < 0.0 {
            return Err(TensorError::invalid(
                op,
                format!("Invalid epsilon value: {}", self.eps),
            ));
        }
        for (index, beta) in [self.betas.0, self.betas.1].into_iter().enumerate() {
            if !(0.0..1.0).contains(&beta) {
                return Err(TensorError::invalid(
                    op,
                    format!("Invalid beta parameter at index {index}: {beta}"),
                ));
            }
        }
        check_non_negative(op, "weight_decay", self.weight_decay)
    }

    fn to_hyper_params(self) -> BTreeMap<String, f64> {
        BTreeMap::from([
            ("lr".to_string(), self.lr),
            ("beta1".to_string(), self.betas.0),
            ("beta2".to_string(), self.betas.1),
            ("eps".to_string(), self.eps),
            ("weight_decay".to_string(), self.weight_decay),
            ("amsgrad".to_string(), f64::from(u8::from(self.amsgrad))),
        ])
    }

    fn from_state(state: &OptimizerState, op: &'static str) -> Result<Self> {
        let settings = AdamSettings {
            lr: hyper(state, "lr")?,
            betas: (hyper(state, "beta1")?, hyper(state, "beta2")?),
            eps: hyper(state, "eps")?,
            weight_decay: hyper(state, "weight_decay")?,
            amsgrad: hyper_bool(state, "amsgrad")?,
            op,
        };
        settings.validate()?;
        Ok(settings)
    }
}

/// The state of one parameter, created at its first update.
#[derive(Debug, Clone)]
struct MomentState<T: Float> {
    step: u64,
    exp_avg: Vec<T>,
    exp_avg_sq: Vec<T>,
    max_exp_avg_sq: Option<Vec<T>>,
}

/// What Adam and AdamW share: everything but the kind of weight decay.
struct AdamCore<T: Float> {
    params: Vec<Var<T>>,
    settings: AdamSettings,
    /// True for AdamW: `p *= 1 - lr * weight_decay` instead of `g += weight_decay * p`.
    decoupled: bool,
    states: Vec<Option<MomentState<T>>>,
}

impl<T: Float> AdamCore<T> {
    fn new(params: Vec<Var<T>>, settings: AdamSettings, decoupled: bool) -> Result<Self> {
        settings.validate()?;
        check_params(Self::op(decoupled), &params)?;
        let n = params.len();
        Ok(AdamCore {
            params,
            settings,
            decoupled,
            states: vec![None; n],
        })
    }

    fn op(decoupled: bool) -> &'static str {
        if decoupled { "AdamW" } else { "Adam" }
    }

    fn kind(&self) -> &'static str {
        if self.decoupled { "adamw" } else { "adam" }
    }

    /// PyTorch's `_single_tensor_adam`, operation by operation.
    fn step(&mut self) -> Result<()> {
        let grads = collect_grads(Self::op(self.decoupled), &self.params)?;
        check_step_counters(Self::op(self.decoupled), &grads, |i| {
            self.states[i].as_ref().map_or(0, |st| st.step)
        })?;
        let s = self.settings;
        let (beta1, beta2) = s.betas;
        // exp_avg.lerp_(grad, 1 - beta1): ATen's lerp uses `self + w * (end - self)` when
        // |w| < 0.5 and `end - (end - self) * (1 - w)` otherwise.
        let lerp_weight = 1.0 - beta1;
        let small_weight = lerp_weight.abs() < 0.5;
        let w = T::of(lerp_weight);
        let one_minus_w = T::one() - w;
        let beta2_t = T::of(beta2);
        let one_minus_beta2 = T::of(1.0 - beta2);
        let weight_decay = T::of(s.weight_decay);
        let decay_factor = T::of(1.0 - s.lr * s.weight_decay);
        let eps = T::of(s.eps);
        for (i, grad) in grads.into_iter().enumerate() {
            let Some(grad) = grad else { continue };
            let param = &self.params[i];
            let mut p = param.value().to_vec();
            let mut g = grad.to_vec();
            let n = p.len();
            let state = self.states[i].get_or_insert_with(|| MomentState {
                step: 0,
                exp_avg: vec![T::zero(); n],
                exp_avg_sq: vec![T::zero(); n],
                max_exp_avg_sq: None,
            });
            if s.amsgrad && state.max_exp_avg_sq.is_none() {
                state.max_exp_avg_sq = Some(vec![T::zero(); n]);
            }
            state.step += 1;
            if s.weight_decay != 0.0 {
                if self.decoupled {
                    // param.mul_(1 - lr * weight_decay)
                    for p in p.iter_mut() {
                        *p *= decay_factor;
                    }
                } else {
                    // grad = grad.add(param, alpha=weight_decay)
                    for (g, &p) in g.iter_mut().zip(&p) {
                        *g += weight_decay * p;
                    }
                }
            }
            for (m, &g) in state.exp_avg.iter_mut().zip(&g) {
                *m = if small_weight {
                    *m + w * (g - *m)
                } else {
                    g - (g - *m) * one_minus_w
                };
            }
            // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            for (v, &g) in state.exp_avg_sq.iter_mut().zip(&g) {
                *v = *v * beta2_t + one_minus_beta2 * g * g;
            }
            let step = state.step as f64;
            let bias_correction1 = 1.0 - beta1.powf(step);
            let bias_correction2 = 1.0 - beta2.powf(step);
            let step_size = s.lr / bias_correction1;
            let bias_correction2_sqrt = T::of(bias_correction2.sqrt());
            let neg_step_size = T::of(-step_size);
            let second = match &mut state.max_exp_avg_sq {
                Some(max) if s.amsgrad => {
                    // torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
                    for (mx, &v) in max.iter_mut().zip(&state.exp_avg_sq) {
                        *mx = maximum(*mx, v);
                    }
                    &*max
                }
                _ => &state.exp_avg_sq,
            };
            // denom = (v.sqrt() / bias_correction2_sqrt).add_(eps)
            // param.addcdiv_(exp_avg, denom, value=-step_size)
            for ((p, &m), &v) in p.iter_mut().zip(&state.exp_avg).zip(second) {
                let denom = v.sqrt() / bias_correction2_sqrt + eps;
                *p += neg_step_size * m / denom;
            }
            param.set_value(Tensor::from_vec(p, &param.shape())?)?;
        }
        Ok(())
    }

    fn state(&self) -> OptimizerState {
        let params = self
            .params
            .iter()
            .zip(&self.states)
            .map(|(param, state)| {
                let Some(st) = state else {
                    return ParamState::default();
                };
                let shape = param.shape();
                let save = |data: &[T]| Buffer {
                    shape: shape.clone(),
                    data: data.iter().map(|&x| x.as_f64()).collect(),
                };
                let mut buffers = BTreeMap::from([
                    (EXP_AVG.to_string(), save(&st.exp_avg)),
                    (EXP_AVG_SQ.to_string(), save(&st.exp_avg_sq)),
                ]);
                if let Some(max) = &st.max_exp_avg_sq {
                    buffers.insert(MAX_EXP_AVG_SQ.to_string(), save(max));
                }
                ParamState {
                    step: st.step,
                    buffers,
                }
            })
            .collect();
        OptimizerState {
            kind: self.kind().to_string(),
            hyper_params: self.settings.to_hyper_params(),
            params,
        }
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        check_state_header(self.kind(), &self.params, &state)?;
        let settings = AdamSettings::from_state(&state, self.settings.op)?;
        let required: &[&str] = if settings.amsgrad {
            &[EXP_AVG, EXP_AVG_SQ, MAX_EXP_AVG_SQ]
        } else {
            &[EXP_AVG, EXP_AVG_SQ]
        };
        let mut states = Vec::with_capacity(self.params.len());
        for (i, (param, ps)) in self.params.iter().zip(&state.params).enumerate() {
            if ps.step == 0 {
                if !ps.buffers.is_empty() {
                    return Err(TensorError::invalid(
                        "load_state",
                        format!("parameter {i}: step 0 but it has buffers"),
                    ));
                }
                states.push(None);
                continue;
            }
            check_buffer_names(i, ps, &[EXP_AVG, EXP_AVG_SQ, MAX_EXP_AVG_SQ], required)?;
            let load = |name: &str| -> Result<Option<Vec<T>>> {
                Ok(load_buffer(i, param, ps, name)?.map(|t| t.to_vec()))
            };
            let missing =
                || TensorError::invalid("load_state", format!("parameter {i}: buffer missing"));
            states.push(Some(MomentState {
                step: ps.step,
                exp_avg: load(EXP_AVG)?.ok_or_else(missing)?,
                exp_avg_sq: load(EXP_AVG_SQ)?.ok_or_else(missing)?,
                max_exp_avg_sq: load(MAX_EXP_AVG_SQ)?,
            }));
        }
        self.settings = settings;
        self.states = states;
        Ok(())
    }

    fn set_lr(&mut self, lr: f64) -> Result<()> {
        check_lr(Self::op(self.decoupled), lr)?;
        self.settings.lr = lr;
        Ok(())
    }
}

/// `torch.maximum`: the larger value, NaN if either is NaN.
fn maximum<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::nan()
    } else if a >= b {
        a
    } else {
        b
    }
}

/// Adam, exactly as `torch.optim.Adam` (single-tensor path).
///
/// For each parameter `p` with gradient `g`, at its step `t` (counted from 1):
///
/// ```text
/// g = g + weight_decay * p                          (if weight_decay != 0)
/// m = lerp(m, g, 1 - beta1)                         (m + (1 - beta1) * (g - m))
/// v = beta2 * v + (1 - beta2) * g * g
/// v_max = max(v_max, v)                             (amsgrad; then used instead of v)
/// bias_correction1 = 1 - beta1^t,  bias_correction2 = 1 - beta2^t   (in f64)
/// denom = sqrt(v) / sqrt(bias_correction2) + eps
/// p = p - (lr / bias_correction1) * m / denom
/// ```
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{Adam, AdamConfig, Optimizer};
/// use ferrite_tensor::Tensor;
///
/// let w = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 1.0], &[2])?);
/// let mut opt = Adam::new(vec![w.clone()], AdamConfig::new(0.1))?;
/// w.set_grad(Some(Tensor::from_vec(vec![3.0, -0.5], &[2])?))?;
/// opt.step()?;
/// // The first Adam step moves every coordinate by about lr, against the gradient's sign.
/// let p = w.value().to_vec();
/// assert!((p[0] - 0.9).abs() < 1e-6 && (p[1] - 1.1).abs() < 1e-6);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub struct Adam<T: Float = f32> {
    core: AdamCore<T>,
}

/// AdamW, exactly as `torch.optim.AdamW` (single-tensor path): [`Adam`] with decoupled
/// weight decay, `p = p * (1 - lr * weight_decay)` before the Adam update (instead of adding
/// `weight_decay * p` to the gradient).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{AdamW, AdamWConfig, Optimizer};
/// use ferrite_tensor::Tensor;
///
/// let w = Var::parameter(Tensor::<f64>::full(&[1], 2.0));
/// let mut opt = AdamW::new(vec![w.clone()], AdamWConfig::new(0.1).with_weight_decay(0.5))?;
/// w.set_grad(Some(Tensor::full(&[1], 1.0)))?;
/// opt.step()?;
/// // 2 * (1 - 0.1 * 0.5) = 1.9, then the Adam step of about -0.1
/// assert!((w.value().to_vec()[0] - 1.8).abs() < 1e-6);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub struct AdamW<T: Float = f32> {
    core: AdamCore<T>,
}

impl<T: Float> std::fmt::Debug for Adam<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adam")
            .field("params", &self.core.params.len())
            .field("config", &self.config())
            .finish()
    }
}

impl<T: Float> std::fmt::Debug for AdamW<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdamW")
            .field("params", &self.core.params.len())
            .field("config", &self.config())
            .finish()
    }
}

impl<T: Float> Adam<T> {
    /// An Adam optimizer for `params` (usually `model.parameters()`).
    ///
    /// # Errors
    /// When the configuration is invalid ([`AdamConfig::validate`]), the list is empty, a
    /// parameter is not a leaf, or a parameter appears twice.
    ///
    /// ```
    /// use ferrite_nn::optim::{Adam, AdamConfig};
    /// use ferrite_nn::{Linear, Module, ModuleExt};
    /// use ferrite_tensor::seeded_rng;
    /// let model: Linear = Linear::new(2, 2, &mut seeded_rng(0));
    /// assert!(Adam::new(model.parameters(), AdamConfig::default()).is_ok());
    /// let err = Adam::new(model.parameters(), AdamConfig::new(-1.0)).unwrap_err();
    /// assert!(err.to_string().contains("Invalid learning rate"));
    /// ```
    pub fn new(params: Vec<Var<T>>, config: AdamConfig) -> Result<Self> {
        Ok(Adam {
            core: AdamCore::new(params, config.into(), false)?,
        })
    }

    /// The hyper-parameters in use.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{Adam, AdamConfig};
    /// use ferrite_tensor::Tensor;
    /// let opt = Adam::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], AdamConfig::new(0.1))?;
    /// assert_eq!(opt.config().betas, (0.9, 0.999));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn config(&self) -> AdamConfig {
        self.core.settings.into()
    }
}

impl<T: Float> AdamW<T> {
    /// An AdamW optimizer for `params` (usually `model.parameters()`).
    ///
    /// # Errors
    /// When the configuration is invalid ([`AdamWConfig::validate`]), the list is empty, a
    /// parameter is not a leaf, or a parameter appears twice.
    ///
    /// ```
    /// use ferrite_nn::optim::{AdamW, AdamWConfig};
    /// use ferrite_nn::{Linear, Module, ModuleExt};
    /// use ferrite_tensor::seeded_rng;
    /// let model: Linear = Linear::new(2, 2, &mut seeded_rng(0));
    /// assert!(AdamW::new(model.parameters(), AdamWConfig::default()).is_ok());
    /// assert!(AdamW::new(model.parameters(), AdamWConfig::new(0.1).with_eps(-1.0)).is_err());
    /// ```
    pub fn new(params: Vec<Var<T>>, config: AdamWConfig) -> Result<Self> {
        Ok(AdamW {
            core: AdamCore::new(params, config.into(), true)?,
        })
    }

    /// The hyper-parameters in use.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{AdamW, AdamWConfig};
    /// use ferrite_tensor::Tensor;
    /// let opt = AdamW::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], AdamWConfig::default())?;
    /// assert_eq!(opt.config().weight_decay, 0.01);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn config(&self) -> AdamWConfig {
        self.core.settings.into()
    }
}

macro_rules! delegate_optimizer {
    ($ty:ident) => {
        impl<T: Float> Optimizer<T> for $ty<T> {
            fn step(&mut self) -> Result<()> {
                self.core.step()
            }
            fn lr(&self) -> f64 {
                self.core.settings.lr
            }
            fn set_lr(&mut self, lr: f64) -> Result<()> {
                self.core.set_lr(lr)
            }
            fn params(&self) -> &[Var<T>] {
                &self.core.params
            }
            fn kind(&self) -> &'static str {
                self.core.kind()
            }
            fn state(&self) -> OptimizerState {
                self.core.state()
            }
            fn load_state(&mut self, state: OptimizerState) -> Result<()> {
                self.core.load_state(state)
            }
        }
    };
}

delegate_optimizer!(Adam);
delegate_optimizer!(AdamW);
