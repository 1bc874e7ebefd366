//! Elementwise binary arithmetic with NumPy broadcasting, scalar variants, and
//! [`Tensor::sum_to`], the reduction that undoes a broadcast (used by backward passes).

use ndarray::{ArrayD, IxDyn, Zip};

use crate::{Float, Result, Tensor, TensorError, buffer};

/// The shape two shapes broadcast to under NumPy rules, or `None` if they cannot.
///
/// ```
/// use ferrite_tensor::broadcast_shapes;
/// assert_eq!(broadcast_shapes(&[2, 1, 3], &[4, 1]), Some(vec![2, 4, 3]));
/// assert_eq!(broadcast_shapes(&[2, 3], &[4]), None);
/// ```
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// [`broadcast_shapes`], or the error every broadcasting op gives (named `op`).
pub(crate) fn checked_broadcast(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    broadcast_shapes(a, b).ok_or_else(|| {
        TensorError::shape(
            op,
            format!("shapes {a:?} and {b:?} cannot be broadcast together"),
        )
    })
}

impl<T: Float> Tensor<T> {
    /// Applies `f` elementwise to `self` and `other` after broadcasting them together.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast (the message names `op`).
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let a = Tensor::<f32>::ones(&[2, 1]);
    /// let b = Tensor::<f32>::ones(&[3]);
    /// let m = a.zip_with("max", &b, |x, y| x.max(y))?;
    /// assert_eq!(m.shape(), &[2, 3]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn zip_with(
        &self,
        op: &'static str,
        other: &Tensor<T>,
        f: impl Fn(T, T) -> T + Sync + Send,
    ) -> Result<Tensor<T>> {
        if self.shape() == other.shape()
            && let (Some(a), Some(b)) = (self.as_slice(), other.as_slice())
        {
            let data = crate::parallel::zip(a, b, f);
            return Tensor::from_vec(data, self.shape());
        }
        let out_shape = checked_broadcast(op, self.shape(), other.shape())?;
        let a = self
            .arc()
            .broadcast(IxDyn(&out_shape))
            .expect("checked broadcast");
        let b = other
            .arc()
            .broadcast(IxDyn(&out_shape))
            .expect("checked broadcast");
        let numel = out_shape.iter().product();
        let mut out = ArrayD::from_shape_vec(IxDyn(&out_shape), buffer::zeros(numel))
            .expect("numel matches shape");
        Zip::from(&mut out)
            .and(&a)
            .and(&b)
            .for_each(|o, &x, &y| *o = f(x, y));
        Ok(Tensor::from_array(out))
    }

    /// `self + other` with broadcasting.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let c = Tensor::<f32>::ones(&[2, 2]).add(&Tensor::scalar(1.0))?;
    /// assert_eq!(c.to_vec(), vec![2.0; 4]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn add(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with("add", other, |x, y| x + y)
    }

    /// `self - other` with broadcasting.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let c = Tensor::<f32>::ones(&[2]).sub(&Tensor::full(&[2], 3.0))?;
    /// assert_eq!(c.to_vec(), vec![-2.0; 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn sub(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with("sub", other, |x, y| x - y)
    }

    /// `self * other` (elementwise) with broadcasting.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let c = Tensor::<f32>::full(&[2], 2.0).mul(&Tensor::full(&[2], 3.0))?;
    /// assert_eq!(c.to_vec(), vec![6.0; 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn mul(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with("mul", other, |x, y| x * y)
    }

    /// `self / other` (elementwise) with broadcasting. Division by zero follows IEEE 754.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let c = Tensor::<f32>::full(&[2], 3.0).div(&Tensor::full(&[2], 2.0))?;
    /// assert_eq!(c.to_vec(), vec![1.5; 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn div(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with("div", other, |x, y| x / y)
    }

    /// Adds a scalar to every element.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::ones(&[2]).add_scalar(1.5).to_vec(), vec![2.5; 2]);
    /// ```
    pub fn add_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| x + s)
    }

    /// Subtracts a scalar from every element.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::ones(&[2]).sub_scalar(1.5).to_vec(), vec![-0.5; 2]);
    /// ```
    pub fn sub_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| x - s)
    }

    /// Multiplies every element by a scalar.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::ones(&[2]).mul_scalar(3.0).to_vec(), vec![3.0; 2]);
    /// ```
    pub fn mul_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| x * s)
    }

    /// Divides every element by a scalar.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::ones(&[2]).div_scalar(4.0).to_vec(), vec![0.25; 2]);
    /// ```
    pub fn div_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| x / s)
    }

    /// Sums a broadcast result back down to `shape` (the adjoint of broadcasting).
    ///
    /// # Errors
    /// When `self` could not have been broadcast from `shape`.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let g = Tensor::<f32>::ones(&[2, 3]);
    /// assert_eq!(g.sum_to(&[3])?.to_vec(), vec![2.0; 3]);
    /// assert_eq!(g.sum_to(&[2, 1])?.to_vec(), vec![3.0; 2]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn sum_to(&self, shape: &[usize]) -> Result<Tensor<T>> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        if broadcast_shapes(shape, self.shape()).as_deref() != Some(self.shape()) {
            return Err(TensorError::shape(
                "sum_to",
                format!("cannot sum shape {:?} down to {:?}", self.shape(), shape),
            ));
        }
        let lead = self.ndim() - shape.len();
        let mut a = self.arc().to_owned();
        for _ in 0..lead {
            a = a.sum_axis(ndarray::Axis(0));
        }
        for (i, &d) in shape.iter().enumerate() {
            if d == 1 && a.shape()[i] != 1 {
                a = a.sum_axis(ndarray::Axis(i)).insert_axis(ndarray::Axis(i));
            }
        }
        Ok(Tensor::from_array(a))
    }
}

macro_rules! impl_operator {
    ($trait:ident, $method:ident, $name:literal) => {
        impl<T: Float> std::ops::$trait<&Tensor<T>> for &Tensor<T> {
            type Output = Tensor<T>;
            #[doc = concat!("`a ", $name, " b` with broadcasting.\n\n# Panics\nWhen the shapes cannot be broadcast, with the message of [`Tensor::", stringify!($method), "`].")]
            fn $method(self, rhs: &Tensor<T>) -> Tensor<T> {
                Tensor::$method(self, rhs).unwrap_or_else(|e| panic!("{e}"))
            }
        }
    };
}
impl_operator!(Add, add, "+");
impl_operator!(Sub, sub, "-");
impl_operator!(Mul, mul, "*");
impl_operator!(Div, div, "/");

impl<T: Float> std::ops::Neg for &Tensor<T> {
    type Output = Tensor<T>;
    /// Elementwise negation.
    fn neg(self) -> Tensor<T> {
        Tensor::neg(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_matches_numpy_rules() {
        let a = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2, 1]).unwrap();
        let b = Tensor::<f64>::from_vec(vec![10.0, 20.0, 30.0], &[3]).unwrap();
        let c = a.add(&b).unwrap();
        assert_eq!(c.shape(), &[2, 3]);
        assert_eq!(c.to_vec(), vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
        let err = Tensor::<f64>::zeros(&[2, 3])
            .mul(&Tensor::zeros(&[2]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "mul: shapes [2, 3] and [2] cannot be broadcast together"
        );
    }

    #[test]
    fn sum_to_inverts_broadcast() {
        let g = Tensor::<f64>::arange(0.0, 6.0, 1.0)
            .unwrap()
            .reshape(&[2, 3])
            .unwrap();
        assert_eq!(g.sum_to(&[1, 3]).unwrap().to_vec(), vec![3.0, 5.0, 7.0]);
        assert_eq!(g.sum_to(&[]).unwrap().to_vec(), vec![15.0]);
        assert!(g.sum_to(&[2]).is_err());
    }

    #[test]
    #[should_panic(expected = "add: shapes [2] and [3] cannot be broadcast together")]
    fn operator_panics_with_the_same_message() {
        let _ = &Tensor::<f32>::zeros(&[2]) + &Tensor::zeros(&[3]);
    }
}
