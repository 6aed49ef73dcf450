"""The devstack's moto server (moto 5.2.5, pinned in requirements-dev.txt), with two repairs.

moto's `DynamoDBBackend.transact_write_items` deep-copies the whole table once per action, to
undo a cancelled transaction. A 100-action transaction on a table of 40,000 items took 20 s, and
the sync engine writes a large pull page as 100-action transactions (`shared/src/store/bulk.rs`).
Here the undo keeps a copy of only the items the transaction names; what a transaction does and
answers, cancelled or not, is moto's own code.

DynamoDB applies a conditional write atomically: of two `PutItem`s on one key, both conditioned
on `attribute_not_exists(pk)`, one succeeds. moto's server answers each request on a thread of
its own and checks a condition and writes the item in separate steps, with no lock, so under
load both could succeed: two containers both took the token refresh lease and refreshed twice
(a CI flake of tests/tests/service_accounts.rs). Here every DynamoDB write holds one lock.

Usage: python moto_launcher.py PORT   (stops when its standard input closes)
"""

import copy
import functools
import sys
import threading
import types

import moto.dynamodb.models as models
from moto.dynamodb.models.table import Table
from moto.server import ThreadedMotoServer

_deepcopy = copy.deepcopy


def _deepcopy_but_tables(x, memo=None):
    # Only transact_write_items deep-copies a table: its undo is done below instead.
    return x if isinstance(x, Table) else _deepcopy(x, memo)


models.copy = types.SimpleNamespace(**{**vars(copy), "deepcopy": _deepcopy_but_tables})

_transact = models.DynamoDBBackend.transact_write_items


def _key(backend, op_type, op):
    if op_type != "Put":
        return op["Key"]
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def transact_write_items(self, transact_items):
    saved = []
    for action in transact_items:
        try:
            op_type, op = next(iter(action.items()))
            key = _key(self, op_type, op)
            old = self.get_item(op["TableName"], key)
            saved.append(
                (op["TableName"], key, None if old is None else _deepcopy(old.to_json()["Attributes"]))
            )
        except Exception:
            pass  # moto's own code below names what is wrong with this action
    try:
        return _transact(self, transact_items)
    except Exception:
        for table_name, key, old in reversed(saved):
            if old is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, old)
        raise


models.DynamoDBBackend.transact_write_items = transact_write_items

_writes = threading.RLock()


def _atomic(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _writes:
            return method(*args, **kwargs)

    return locked


for _name in ("put_item", "update_item", "delete_item", "transact_write_items"):
    setattr(models.DynamoDBBackend, _name, _atomic(getattr(models.DynamoDBBackend, _name)))

if __name__ == "__main__":
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
    server.start()
    print("ready", flush=True)
    sys.stdin.read()
    server.stop()
