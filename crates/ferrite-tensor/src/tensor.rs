//! The [`Tensor`] type: creation, inspection and conversion.

use std::borrow::Cow;

use ndarray::{ArcArray, ArrayD, ArrayViewD, IxDyn};
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

use crate::{Float, Result, Rng, TensorError, buffer};

/// An n-dimensional array of `f32` (the default) or `f64`, cheap to clone.
///
/// A `Tensor` is an immutable value: every operation returns a new tensor, and clones share
/// their buffer (copy-on-write). It knows nothing of gradients; `ferrite_autograd::Var`
/// wraps it to record operations.
///
/// Fallible operations return [`Result`]; the arithmetic operators (`&a + &b`) panic with the
/// same message instead (see their `# Panics` sections).
///
/// ```
/// use ferrite_tensor::Tensor;
/// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
/// let b = Tensor::<f32>::from_vec(vec![10.0, 20.0, 30.0], &[3])?;
/// let c = a.add(&b)?; // broadcasts [3] over [2, 3]
/// assert_eq!(c.shape(), &[2, 3]);
/// assert_eq!(c.to_vec(), vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct Tensor<T: Float = f32> {
    data: ArcArray<T, IxDyn>,
}

impl<T: Float> Tensor<T> {
    /// Wraps an `ndarray` array (any layout).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::from_array(ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&[2, 2])));
    /// assert_eq!(t.shape(), &[2, 2]);
    /// ```
    pub fn from_array(array: ArrayD<T>) -> Self {
        Tensor {
            data: array.into_shared(),
        }
    }

    /// A view of the elements as an `ndarray` array.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::ones(&[2]);
    /// assert_eq!(t.as_array().sum(), 2.0);
    /// ```
    pub fn as_array(&self) -> ArrayViewD<'_, T> {
        self.data.view()
    }

    /// The elements as an owned `ndarray` array (copies only if the buffer is shared).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::ones(&[3]).into_array();
    /// assert_eq!(a.len(), 3);
    /// ```
    pub fn into_array(mut self) -> ArrayD<T> {
        std::mem::replace(&mut self.data, empty_arc()).into_owned()
    }

    /// A tensor of the given shape filled with zeros.
    ///
    /// # Panics
    /// When the shape has more elements than memory can hold (see [`checked_numel`]), with
    /// the message of [`try_zeros`](Tensor::try_zeros), which returns it as an error.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::zeros(&[2, 3]).to_vec(), vec![0.0; 6]);
    /// ```
    #[track_caller]
    pub fn zeros(shape: &[usize]) -> Self {
        or_panic(Self::try_zeros(shape))
    }

    /// [`zeros`](Tensor::zeros), refusing a shape that no buffer can hold.
    ///
    /// # Errors
    /// `InvalidArgument` when the shape has more elements than memory can hold (see
    /// [`checked_numel`]).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::try_zeros(&[2])?.to_vec(), vec![0.0, 0.0]);
    /// assert_eq!(
    ///     Tensor::<f32>::try_zeros(&[usize::MAX / 2, 4]).unwrap_err().to_string(),
    ///     "zeros: shape [9223372036854775807, 4] has more elements than memory can hold"
    /// );
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn try_zeros(shape: &[usize]) -> Result<Self> {
        Self::filled("zeros", shape, T::zero())
    }

    /// A tensor of the given shape filled with ones.
    ///
    /// # Panics
    /// When the shape has more elements than memory can hold, with the message of
    /// [`try_ones`](Tensor::try_ones), which returns it as an error.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f64>::ones(&[2]).to_vec(), vec![1.0, 1.0]);
    /// ```
    #[track_caller]
    pub fn ones(shape: &[usize]) -> Self {
        or_panic(Self::try_ones(shape))
    }

    /// [`ones`](Tensor::ones), refusing a shape that no buffer can hold.
    ///
    /// # Errors
    /// `InvalidArgument` when the shape has more elements than memory can hold (see
    /// [`checked_numel`]).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f64>::try_ones(&[2])?.to_vec(), vec![1.0, 1.0]);
    /// assert!(Tensor::<f64>::try_ones(&[1 << 62, 4]).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn try_ones(shape: &[usize]) -> Result<Self> {
        Self::filled("ones", shape, T::one())
    }

    /// A tensor of the given shape filled with `value`.
    ///
    /// # Panics
    /// When the shape has more elements than memory can hold, with the message of
    /// [`try_full`](Tensor::try_full), which returns it as an error.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::full(&[2], 7.0).to_vec(), vec![7.0, 7.0]);
    /// ```
    #[track_caller]
    pub fn full(shape: &[usize], value: T) -> Self {
        or_panic(Self::try_full(shape, value))
    }

    /// [`full`](Tensor::full), refusing a shape that no buffer can hold.
    ///
    /// # Errors
    /// `InvalidArgument` when the shape has more elements than memory can hold (see
    /// [`checked_numel`]).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::try_full(&[2], 7.0)?.to_vec(), vec![7.0, 7.0]);
    /// assert!(Tensor::<f32>::try_full(&[usize::MAX, 2], 7.0).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn try_full(shape: &[usize], value: T) -> Result<Self> {
        Self::filled("full", shape, value)
    }

    /// A tensor of `shape` filled with `value`; errors name `op`.
    fn filled(op: &'static str, shape: &[usize], value: T) -> Result<Self> {
        let n = checked_numel(op, shape)?;
        let mut data = buffer::with_capacity(n);
        data.resize(n, value);
        let array = ArrayD::from_shape_vec(IxDyn(shape), data)
            .map_err(|e| TensorError::shape(op, e.to_string()))?;
        Ok(Self::from_array(array))
    }

    /// A 0-dimensional tensor holding one value (shape `[]`).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let s = Tensor::<f32>::scalar(3.0);
    /// assert_eq!(s.ndim(), 0);
    /// assert_eq!(s.item()?, 3.0);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn scalar(value: T) -> Self {
        Self::full(&[], value)
    }

    /// A tensor of the given shape from row-major data.
    ///
    /// # Errors
    /// When `data.len()` is not the product of `shape`, or the shape has more elements than
    /// memory can hold (see [`checked_numel`]).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(t.shape(), &[2, 2]);
    /// assert!(Tensor::<f32>::from_vec(vec![1.0], &[2, 2]).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn from_vec(data: Vec<T>, shape: &[usize]) -> Result<Self> {
        let expected = checked_numel("from_vec", shape)?;
        if data.len() != expected {
            return Err(TensorError::shape(
                "from_vec",
                format!(
                    "shape {shape:?} needs {expected} elements but {} were given",
                    data.len()
                ),
            ));
        }
        let array = ArrayD::from_shape_vec(IxDyn(shape), data)
            .map_err(|e| TensorError::shape("from_vec", e.to_string()))?;
        Ok(Self::from_array(array))
    }

    /// Values `start, start + step, ...` below `end` (1-D), like `torch.arange`.
    ///
    /// # Errors
    /// When `step` is zero, not finite, or points away from `end`, or when there would be
    /// more values than memory can hold.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::arange(0.0, 4.0, 1.0)?.to_vec(), vec![0.0, 1.0, 2.0, 3.0]);
    /// assert_eq!(Tensor::<f64>::arange(1.0, 0.0, -0.5)?.to_vec(), vec![1.0, 0.5]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn arange(start: T, end: T, step: T) -> Result<Self> {
        let (s, e, st) = (start.as_f64(), end.as_f64(), step.as_f64());
        if st == 0.0 || !st.is_finite() || !s.is_finite() || !e.is_finite() || (e - s) * st < 0.0 {
            return Err(TensorError::invalid(
                "arange",
                format!("cannot step from {start} to {end} by {step}"),
            ));
        }
        let count = ((e - s) / st).ceil();
        // `as` saturates: a count beyond `usize` becomes `usize::MAX`, refused below.
        let n = count as usize;
        checked_numel("arange", &[n]).map_err(|_| {
            TensorError::invalid(
                "arange",
                format!(
                    "stepping from {s:e} to {e:e} by {st:e} gives {count:e} values, \
                     more than memory can hold"
                ),
            )
        })?;
        let data = (0..n).map(|i| T::of(s + i as f64 * st)).collect::<Vec<_>>();
        Self::from_vec(data, &[n])
    }

    /// Uniform samples from `[0, 1)`, drawn from a seeded generator.
    ///
    /// Samples are drawn in `f64` and rounded, so an `f32` tensor equals the rounded `f64`
    /// tensor drawn from the same seed.
    ///
    /// # Panics
    /// When the shape has more elements than memory can hold, with the message of
    /// [`try_rand`](Tensor::try_rand), which returns it as an error.
    ///
    /// ```
    /// use ferrite_tensor::{seeded_rng, Tensor};
    /// let a = Tensor::<f32>::rand(&[3], &mut seeded_rng(0));
    /// let b = Tensor::<f32>::rand(&[3], &mut seeded_rng(0));
    /// assert_eq!(a, b);
    /// assert!(a.to_vec().iter().all(|&x| (0.0..1.0).contains(&x)));
    /// ```
    #[track_caller]
    pub fn rand(shape: &[usize], rng: &mut Rng) -> Self {
        or_panic(Self::try_rand(shape, rng))
    }

    /// [`rand`](Tensor::rand), refusing a shape that no buffer can hold (nothing is drawn
    /// then).
    ///
    /// # Errors
    /// `InvalidArgument` when the shape has more elements than memory can hold (see
    /// [`checked_numel`]).
    ///
    /// ```
    /// use ferrite_tensor::{seeded_rng, Tensor};
    /// let a = Tensor::<f32>::try_rand(&[3], &mut seeded_rng(0))?;
    /// assert_eq!(a, Tensor::<f32>::rand(&[3], &mut seeded_rng(0)));
    /// assert!(Tensor::<f32>::try_rand(&[usize::MAX, 2], &mut seeded_rng(0)).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn try_rand(shape: &[usize], rng: &mut Rng) -> Result<Self> {
        Self::sample_uniform("rand", shape, T::zero(), T::one(), rng)
    }

    /// Uniform samples from `[low, high)`, drawn from a seeded generator.
    ///
    /// # Panics
    /// When the shape has more elements than memory can hold, with the message of
    /// [`try_uniform`](Tensor::try_uniform), which returns it as an error.
    ///
    /// ```
    /// use ferrite_tensor::{seeded_rng, Tensor};
    /// let t = Tensor::<f64>::uniform(&[100], -2.0, 2.0, &mut seeded_rng(1));
    /// assert!(t.to_vec().iter().all(|&x| (-2.0..2.0).contains(&x)));
    /// ```
    #[track_caller]
    pub fn uniform(shape: &[usize], low: T, high: T, rng: &mut Rng) -> Self {
        or_panic(Self::try_uniform(shape, low, high, rng))
    }

    /// [`uniform`](Tensor::uniform), refusing a shape that no buffer can hold (nothing is
    /// drawn then).
    ///
    /// # Errors
    /// `InvalidArgument` when the shape has more elements than memory can hold (see
    /// [`checked_numel`]).
    ///
    /// ```
    /// use ferrite_tensor::{seeded_rng, Tensor};
    /// let t = Tensor::<f64>::try_uniform(&[100], -2.0, 2.0, &mut seeded_rng(1))?;
    /// assert!(t.to_vec().iter().all(|&x| (-2.0..2.0).contains(&x)));
    /// assert_eq!(
    ///     Tensor::<f64>::try_uniform(&[usize::MAX / 2, 4], 0.0, 1.0, &mut seeded_rng(1))
    ///         .unwrap_err()
    ///         .to_string(),
    ///     "uniform: shape [9223372036854775807, 4] has more elements than memory can hold"
    /// );
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn try_uniform(shape: &[usize], low: T, high: T, rng: &mut Rng) -> Result<Self> {
        Self::sample_uniform("uniform", shape, low, high, rng)
    }

    /// Uniform samples of `[low, high)`; errors name `op`.
    fn sample_uniform(
        op: &'static str,
        shape: &[usize],
        low: T,
        high: T,
        rng: &mut Rng,
    ) -> Result<Self> {
        let n = checked_numel(op, shape)?;
        let (lo, hi) = (low.as_f64(), high.as_f64());
        let data = (0..n)
            .map(|_| T::of(lo + (hi - lo) * rng.random::<f64>()))
            .collect::<Vec<_>>();
        let array = ArrayD::from_shape_vec(IxDyn(shape), data)
            .map_err(|e| TensorError::shape(op, e.to_string()))?;
        Ok(Self::from_array(array))
    }

    /// Standard normal samples (mean 0, std 1), drawn from a seeded generator.
    ///
    /// # Panics
    /// When the shape has more elements than memory can hold, with the message of
    /// [`try_randn`](Tensor::try_randn), which returns it as an error.
    ///
    /// ```
    /// use ferrite_tensor::{seeded_rng, Tensor};
    /// let t = Tensor::<f64>::randn(&[10_000], &mut seeded_rng(0));
    /// let mean = t.to_vec().iter().sum::<f64>() / 10_000.0;
    /// assert!(mean.abs() < 0.05);
    /// ```
    #[track_caller]
    pub fn randn(shape: &[usize], rng: &mut Rng) -> Self {
        or_panic(Self::try_randn(shape, rng))
    }

    /// [`randn`](Tensor::randn), refusing a shape that no buffer can hold (nothing is drawn
    /// then).
    ///
    /// # Errors
    /// `InvalidArgument` when the shape has more elements than memory can hold (see
    /// [`checked_numel`]).
    ///
    /// ```
    /// use ferrite_tensor::{seeded_rng, Tensor};
    /// let t = Tensor::<f64>::try_randn(&[4], &mut seeded_rng(0))?;
    /// assert_eq!(t, Tensor::<f64>::randn(&[4], &mut seeded_rng(0)));
    /// assert!(Tensor::<f64>::try_randn(&[1 << 62, 4], &mut seeded_rng(0)).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn try_randn(shape: &[usize], rng: &mut Rng) -> Result<Self> {
        Self::sample_normal("randn", shape, T::zero(), T::one(), rng)
    }

    /// Normal samples with the given mean and standard deviation.
    ///
    /// # Panics
    /// When the shape has more elements than memory can hold, with the message of
    /// [`try_normal`](Tensor::try_normal), which returns it as an error.
    ///
    /// ```
    /// use ferrite_tensor::{seeded_rng, Tensor};
    /// let t = Tensor::<f32>::normal(&[4], 10.0, 0.0, &mut seeded_rng(0));
    /// assert_eq!(t.to_vec(), vec![10.0; 4]);
    /// ```
    #[track_caller]
    pub fn normal(shape: &[usize], mean: T, std: T, rng: &mut Rng) -> Self {
        or_panic(Self::try_normal(shape, mean, std, rng))
    }

    /// [`normal`](Tensor::normal), refusing a shape that no buffer can hold (nothing is
    /// drawn then).
    ///
    /// # Errors
    /// `InvalidArgument` when the shape has more elements than memory can hold (see
    /// [`checked_numel`]).
    ///
    /// ```
    /// use ferrite_tensor::{seeded_rng, Tensor};
    /// let t = Tensor::<f32>::try_normal(&[4], 10.0, 0.0, &mut seeded_rng(0))?;
    /// assert_eq!(t.to_vec(), vec![10.0; 4]);
    /// assert!(Tensor::<f32>::try_normal(&[usize::MAX, 2], 0.0, 1.0, &mut seeded_rng(0)).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn try_normal(shape: &[usize], mean: T, std: T, rng: &mut Rng) -> Result<Self> {
        Self::sample_normal("normal", shape, mean, std, rng)
    }

    /// Normal samples of the given mean and standard deviation; errors name `op`.
    fn sample_normal(
        op: &'static str,
        shape: &[usize],
        mean: T,
        std: T,
        rng: &mut Rng,
    ) -> Result<Self> {
        let n = checked_numel(op, shape)?;
        let (m, s) = (mean.as_f64(), std.as_f64());
        let data = (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(rng);
                T::of(m + s * z)
            })
            .collect::<Vec<_>>();
        let array = ArrayD::from_shape_vec(IxDyn(shape), data)
            .map_err(|e| TensorError::shape(op, e.to_string()))?;
        Ok(Self::from_array(array))
    }

    /// The size of each dimension.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::zeros(&[2, 3]).shape(), &[2, 3]);
    /// ```
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// The number of dimensions.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::zeros(&[2, 3]).ndim(), 2);
    /// ```
    pub fn ndim(&self) -> usize {
        self.data.ndim()
    }

    /// The number of elements.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::zeros(&[2, 3]).numel(), 6);
    /// ```
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The elements in row-major order.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?.transpose(0, 1)?;
    /// assert_eq!(t.to_vec(), vec![1.0, 3.0, 2.0, 4.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        match self.data.as_slice() {
            Some(s) => s.to_vec(),
            None => self.data.iter().copied().collect(),
        }
    }

    /// The elements as a row-major slice when the buffer is contiguous and standard-order.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::ones(&[2]).as_slice(), Some(&[1.0f32, 1.0][..]));
    /// ```
    pub fn as_slice(&self) -> Option<&[T]> {
        self.data.as_slice()
    }

    /// The elements as a mutable row-major slice, for updating a tensor in place.
    ///
    /// Tensors share buffers copy-on-write: when another tensor (a clone, or a result that
    /// kept this value) still uses the buffer, it is copied first, so no other tensor ever
    /// sees the change. A non-contiguous tensor is made contiguous first.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let mut a = Tensor::<f32>::zeros(&[3]);
    /// let b = a.clone();
    /// a.as_mut_slice()[0] = 1.0;
    /// assert_eq!(a.to_vec(), vec![1.0, 0.0, 0.0]);
    /// assert_eq!(b.to_vec(), vec![0.0; 3]); // the clone keeps its value
    /// ```
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        if !self.data.is_standard_layout() {
            *self = self.contiguous();
        }
        self.data
            .as_slice_mut()
            .expect("a standard-layout array is a slice")
    }

    /// This tensor with a contiguous row-major buffer (no copy if it already has one).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::zeros(&[2, 3]).transpose(0, 1)?.contiguous();
    /// assert!(t.as_slice().is_some());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn contiguous(&self) -> Self {
        if self.data.is_standard_layout() {
            self.clone()
        } else {
            let data = buffer::collect(self.numel(), self.data.iter().copied());
            Self::from_array(
                ArrayD::from_shape_vec(IxDyn(self.shape()), data).expect("numel matches shape"),
            )
        }
    }

    /// The single value of a one-element tensor.
    ///
    /// # Errors
    /// When the tensor has more or fewer than one element.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::full(&[1, 1], 2.5).item()?, 2.5);
    /// assert!(Tensor::<f32>::zeros(&[2]).item().is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn item(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(TensorError::shape(
                "item",
                format!(
                    "expected a tensor with one element, found shape {:?}",
                    self.shape()
                ),
            ));
        }
        Ok(*self.data.iter().next().expect("one element"))
    }

    /// Converts the elements to another float type.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t: Tensor<f64> = Tensor::<f32>::full(&[2], 0.5).cast();
    /// assert_eq!(t.to_vec(), vec![0.5f64, 0.5]);
    /// ```
    pub fn cast<U: Float>(&self) -> Tensor<U> {
        Tensor::from_array(self.data.mapv(|x| U::of(x.as_f64())))
    }

    /// Applies `f` to every element.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let t = Tensor::<f32>::full(&[2], 3.0).map(|x| x * x);
    /// assert_eq!(t.to_vec(), vec![9.0, 9.0]);
    /// ```
    pub fn map(&self, f: impl Fn(T) -> T + Sync + Send) -> Self {
        match self.as_slice() {
            Some(xs) => {
                let data = crate::parallel::map(xs, f);
                Self::from_array(
                    ArrayD::from_shape_vec(IxDyn(self.shape()), data).expect("numel matches shape"),
                )
            }
            None => Self::from_array(self.data.map(|&x| f(x))),
        }
    }

    /// True when every element is finite (no NaN, no infinity).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert!(Tensor::<f32>::ones(&[2]).all_finite());
    /// assert!(!Tensor::<f32>::full(&[2], f32::NAN).all_finite());
    /// ```
    pub fn all_finite(&self) -> bool {
        self.data.iter().all(|x| x.is_finite())
    }

    /// The elements in row-major order: borrowed when the buffer already is row-major,
    /// copied otherwise. The kernels that walk a tensor as a flat slice start here.
    pub(crate) fn row_major(&self) -> Cow<'_, [T]> {
        match self.as_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(self.to_vec()),
        }
    }

    /// The underlying shared array (crate-internal).
    pub(crate) fn arc(&self) -> &ArcArray<T, IxDyn> {
        &self.data
    }

    /// Wraps a shared array without copying (crate-internal).
    pub(crate) fn from_arc(data: ArcArray<T, IxDyn>) -> Self {
        Tensor { data }
    }
}

/// The tensor, or a panic with the error's message (at the caller of the panicking
/// convenience).
#[track_caller]
fn or_panic<T: Float>(result: Result<Tensor<T>>) -> Tensor<T> {
    match result {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

/// An empty array, to leave behind when the real one is moved out of a dropped tensor.
fn empty_arc<T: Float>() -> ArcArray<T, IxDyn> {
    ArcArray::from_shape_vec(IxDyn(&[0]), Vec::new()).expect("empty shape")
}

impl<T: Float> Drop for Tensor<T> {
    /// Hands a large buffer that no other tensor shares to the cache of [`buffer`], so that
    /// the next tensor of that size does not fault in fresh pages.
    fn drop(&mut self) {
        if self.data.len().saturating_mul(size_of::<T>()) < buffer::MIN_POOLED_BYTES {
            return;
        }
        if let Ok(array) = std::mem::replace(&mut self.data, empty_arc()).try_into_owned_nocopy() {
            buffer::recycle(array.into_raw_vec_and_offset().0);
        }
    }
}

impl<T: Float> std::fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor<{}>{:?} {:?}", T::NAME, self.shape(), self.data)
    }
}

impl<T: Float> std::fmt::Display for Tensor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.data)
    }
}

/// The most elements a tensor may have: `isize::MAX` bytes (the most one allocation can
/// hold) of the largest element ferrite stores (`f64`, and the `usize` indices of max
/// pooling), 8 bytes each. No machine can hold that many `f32` elements either.
const MAX_NUMEL: usize = isize::MAX as usize / 8;

/// The number of elements of a tensor of `shape`, refusing a shape that no buffer can hold,
/// before anything is allocated: every allocation of a tensor's elements goes through it.
///
/// `op` names the operation in the error message.
///
/// # Errors
/// `InvalidArgument` when the element count overflows `usize` or exceeds `isize::MAX / 8`
/// (more than `isize::MAX` bytes of 8-byte elements, the most one allocation can hold), or
/// when the product of the non-zero dims of an empty shape exceeds `isize::MAX` (which no
/// `ndarray` array can describe).
///
/// ```
/// use ferrite_tensor::checked_numel;
/// assert_eq!(checked_numel("zeros", &[2, 3])?, 6);
/// assert_eq!(checked_numel("zeros", &[0, 3])?, 0);
/// assert_eq!(
///     checked_numel("zeros", &[usize::MAX / 2, 4]).unwrap_err().to_string(),
///     "zeros: shape [9223372036854775807, 4] has more elements than memory can hold"
/// );
/// assert!(checked_numel("from_vec", &[0, usize::MAX, 2]).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn checked_numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    let too_large = || {
        TensorError::invalid(
            op,
            if shape.contains(&0) {
                format!(
                    "shape {shape:?} is too large: the product of its non-zero dimensions \
                     exceeds isize::MAX"
                )
            } else {
                format!("shape {shape:?} has more elements than memory can hold")
            },
        )
    };
    // The product of the non-zero dims bounds the element count, and ndarray needs it to
    // fit `isize` even when a zero dim makes the tensor empty.
    let nonzero = shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(too_large)?;
    if nonzero > isize::MAX as usize {
        return Err(too_large());
    }
    let numel = if shape.contains(&0) { 0 } else { nonzero };
    if numel > MAX_NUMEL {
        return Err(too_large());
    }
    Ok(numel)
}

/// Turns a possibly negative dimension into an index in `0..ndim`. A 0-d tensor accepts
/// `0` and `-1` (both give 0), as PyTorch wraps dims as if it had one dimension.
///
/// ```
/// use ferrite_tensor::normalize_dim;
/// assert_eq!(normalize_dim("sum", -1, 3)?, 2);
/// assert!(normalize_dim("sum", 3, 3).is_err());
/// assert_eq!(normalize_dim("sum", -1, 0)?, 0);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn normalize_dim(op: &'static str, dim: isize, ndim: usize) -> Result<usize> {
    let n = ndim as isize;
    let d = if dim < 0 { dim + n.max(1) } else { dim };
    if d < 0 || d >= n.max(1) {
        return Err(TensorError::invalid(
            op,
            format!(
                "dimension {dim} is out of range for a tensor with {ndim} dimensions (expected {} to {})",
                -(n.max(1)),
                n.max(1) - 1
            ),
        ));
    }
    Ok(d as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_numel_refuses_what_no_buffer_can_hold() {
        assert_eq!(checked_numel("op", &[]).unwrap(), 1);
        assert_eq!(checked_numel("op", &[0, isize::MAX as usize]).unwrap(), 0);
        assert_eq!(checked_numel("op", &[MAX_NUMEL]).unwrap(), MAX_NUMEL);
        assert!(checked_numel("op", &[MAX_NUMEL + 1]).is_err());
        assert!(checked_numel("op", &[1 << 31, 1 << 31]).is_err());
        assert_eq!(
            checked_numel("op", &[0, usize::MAX, 2])
                .unwrap_err()
                .to_string(),
            "op: shape [0, 18446744073709551615, 2] is too large: the product of its non-zero \
             dimensions exceeds isize::MAX"
        );
    }

    #[test]
    fn the_fallible_constructors_draw_the_same_numbers() {
        let mut a = crate::seeded_rng(3);
        let mut b = crate::seeded_rng(3);
        assert_eq!(
            Tensor::<f32>::try_uniform(&[5], -1.0, 2.0, &mut a).unwrap(),
            Tensor::<f32>::uniform(&[5], -1.0, 2.0, &mut b)
        );
        assert_eq!(
            Tensor::<f64>::try_normal(&[5], 1.0, 3.0, &mut a).unwrap(),
            Tensor::<f64>::normal(&[5], 1.0, 3.0, &mut b)
        );
        // A refused shape draws nothing.
        assert!(Tensor::<f64>::try_randn(&[usize::MAX, 2], &mut a).is_err());
        assert_eq!(
            Tensor::<f64>::randn(&[2], &mut a),
            Tensor::<f64>::randn(&[2], &mut b)
        );
    }

    #[test]
    fn arange_refuses_more_values_than_memory_can_hold() {
        let err = Tensor::<f64>::arange(0.0, f64::MAX, 1.0).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("arange: stepping from 0e0 to 1.7976931348623157e308 by 1e0"),
            "{err}"
        );
        assert_eq!(Tensor::<f32>::arange(0.0, 3.0, 1.0).unwrap().numel(), 3);
    }
}
