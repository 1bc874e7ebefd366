//! Module forward hooks ([`ModuleExt::register_forward_hook`](crate::ModuleExt)): code that
//! sees, and may replace, a module's output each time the module is *called*
//! ([`ModuleExt::call`](crate::ModuleExt::call), which containers use for their children).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result};

/// A forward hook: `(input, output)` of the module; `Ok(Some(y))` replaces the output.
type Hook<T> = Arc<dyn Fn(&Var<T>, &Var<T>) -> Result<Option<Var<T>>> + Send + Sync>;

/// A module is identified by its address, its type and its element type while it is alive
/// (a struct and its first field have the same address).
type Key = (usize, &'static str, TypeId);

/// A registered hook with its handle's id; the `Any` is a `Hook<T>` for the key's `T`.
type Entry = (u64, Arc<dyn Any + Send + Sync>);

#[derive(Default)]
struct Registry {
    next_id: u64,
    hooks: HashMap<Key, Vec<Entry>>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);
/// Registered hooks in the process: calls skip the lookup while it is zero.
static COUNT: AtomicUsize = AtomicUsize::new(0);

fn registry() -> MutexGuard<'static, Option<Registry>> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes the forward hook it was returned for; dropping it keeps the hook (as PyTorch's
/// `RemovableHandle`).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Flatten, ModuleExt};
/// use ferrite_tensor::Tensor;
/// let flatten = Flatten::new().with_start_dim(0);
/// let handle = flatten.register_forward_hook(|_, y: &Var<f32>| Ok(Some(y.mul_scalar(2.0)?)))?;
/// handle.remove();
/// let y = flatten.call(&Var::new(Tensor::<f32>::ones(&[1])))?;
/// assert_eq!(y.value().to_vec(), vec![1.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug)]
pub struct ForwardHookHandle {
    key: Key,
    id: u64,
}

impl ForwardHookHandle {
    /// Unregisters the hook (nothing happens if it was removed before).
    ///
    /// ```
    /// use ferrite_nn::{Flatten, ModuleExt};
    /// let flatten = Flatten::new().with_start_dim(0);
    /// flatten.register_forward_hook(|_, _: &ferrite_autograd::Var<f32>| Ok(None))?.remove();
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn remove(self) {
        let mut guard = registry();
        let Some(reg) = guard.as_mut() else { return };
        if let Some(list) = reg.hooks.get_mut(&self.key) {
            let before = list.len();
            list.retain(|(id, _)| *id != self.id);
            COUNT.fetch_sub(before - list.len(), Ordering::Relaxed);
            if list.is_empty() {
                reg.hooks.remove(&self.key);
            }
        }
    }
}

/// Registers `hook` for the module `(address, type name)` (see
/// `ModuleExt::register_forward_hook`).
pub(crate) fn register<T: Float>(
    (address, module_type): (usize, &'static str),
    hook: impl Fn(&Var<T>, &Var<T>) -> Result<Option<Var<T>>> + Send + Sync + 'static,
) -> ForwardHookHandle {
    let key = (address, module_type, TypeId::of::<T>());
    let hook: Hook<T> = Arc::new(hook);
    let mut guard = registry();
    let reg = guard.get_or_insert_with(Registry::default);
    let id = reg.next_id;
    reg.next_id += 1;
    reg.hooks.entry(key).or_default().push((id, Arc::new(hook)));
    COUNT.fetch_add(1, Ordering::Relaxed);
    ForwardHookHandle { key, id }
}

/// Runs the hooks of the module `(address, type name)` on its `output`, in registration order.
pub(crate) fn run<T: Float>(
    (address, module_type): (usize, &'static str),
    input: &Var<T>,
    output: Var<T>,
) -> Result<Var<T>> {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return Ok(output);
    }
    let hooks: Vec<Hook<T>> = {
        let guard = registry();
        let list = guard
            .as_ref()
            .and_then(|reg| reg.hooks.get(&(address, module_type, TypeId::of::<T>())));
        (list.into_iter().flatten())
            .filter_map(|(_, h)| h.downcast_ref::<Hook<T>>().cloned())
            .collect()
    };
    let mut output = output;
    for hook in hooks {
        if let Some(new) = hook(input, &output)? {
            output = new;
        }
    }
    Ok(output)
}
